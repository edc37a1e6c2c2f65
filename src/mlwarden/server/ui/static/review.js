// The review queue's keys: 1 thumbs down, 2 thumbs up, j / k next / previous, n a note.
// Keys typed into a field are the field's (Esc leaves it); modified keys are the browser's.
(function () {
  "use strict";
  var card = document.getElementById("review");
  if (!card) { return; }
  function go(id) {
    var a = document.getElementById(id);
    if (a) { window.location.assign(a.href); }
  }
  function vote(id) {
    var b = document.getElementById(id);
    if (b) { b.form.requestSubmit(b); }
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    var typing = t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.tagName === "SELECT" || t.isContentEditable);
    if (typing) {
      if (e.key === "Escape") { t.blur(); }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var actions = {
      "1": function () { vote("review-down"); },
      "2": function () { vote("review-up"); },
      "j": function () { go("review-next"); },
      "k": function () { go("review-prev"); },
      "n": function () { document.getElementById("review-note").focus(); }
    };
    var act = actions[e.key];
    if (act) { e.preventDefault(); act(); }
  });
}());
