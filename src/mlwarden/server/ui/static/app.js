// mlwarden UI: charts (uPlot) and filters that keep the view in the URL. No build step.
(function () {
  "use strict";

  // Filters: a change navigates to the form's URL without empty parameters (state in the URL).
  function cleanUrl(form) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (String(value) !== "") params.append(key, String(value));
    });
    var q = params.toString();
    return form.getAttribute("action") + (q ? "?" + q : "");
  }
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    form.addEventListener("change", function () { window.location.assign(cleanUrl(form)); });
    form.addEventListener("submit", function (e) { e.preventDefault(); window.location.assign(cleanUrl(form)); });
  });

  // Charts: each [data-chart] names a JSON script with x (epoch s) and series.
  var PALETTE = ["#1f5fa8", "#7a3e9d", "#0f7b6c", "#a15c00", "#b3261e", "#4a4a4a"];
  var charts = [];
  function build(el) {
    var spec = JSON.parse(document.getElementById(el.getAttribute("data-chart")).textContent);
    var data = [spec.x];
    var series = [{}];
    spec.series.forEach(function (s, i) {
      data.push(s.values);
      var opt = { label: s.label, spanGaps: false, points: { show: spec.x.length < 60 } };
      if (s.band) {
        opt.stroke = "rgba(122,62,157,0.35)"; opt.width = 1; opt.points = { show: false };
      } else {
        opt.stroke = s.color || PALETTE[i % PALETTE.length]; opt.width = s.width || 1.5;
        if (s.dash) opt.dash = s.dash;
      }
      series.push(opt);
    });
    var yAxis = { label: spec.yLabel || "", size: 60 };
    if (spec.yFormat === "pct") {
      // shares as percentages, with as many decimals as the tick spacing needs
      yAxis.values = function (u, vals, axis, space, incr) {
        var dec = Math.max(0, Math.min(4, -Math.floor(Math.log10(incr * 100) + 1e-9)));
        return vals.map(function (v) { return (v * 100).toFixed(dec) + "%"; });
      };
      series.forEach(function (s, i) {
        if (i) s.value = function (u, v) { return v == null ? "--" : (v * 100).toFixed(2) + "%"; };
      });
    }
    var opts = {
      width: Math.max(260, el.clientWidth),
      height: 220,
      series: series,
      axes: [{}, yAxis],
      scales: { x: { time: true } },
      bands: (spec.bands || []).map(function (b) { return { series: b, fill: "rgba(122,62,157,0.15)" }; }),
      legend: { live: true },
      cursor: { drag: { x: false, y: false } }
    };
    charts.push({ el: el, plot: new uPlot(opts, data, el) });
  }
  if (typeof uPlot !== "undefined") {
    document.querySelectorAll("[data-chart]").forEach(build);
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        charts.forEach(function (c) { c.plot.setSize({ width: Math.max(260, c.el.clientWidth), height: 220 }); });
      }, 150);
    });
  }

  // Heat maps wider than the window open on their latest windows (where news is).
  document.querySelectorAll(".heat-wrap").forEach(function (w) { w.scrollLeft = w.scrollWidth; });

  // A drill-down opened from a heat-map cell takes the focus (keyboard and screen readers).
  if (window.location.hash === "#drilldown") {
    var d = document.getElementById("drilldown");
    if (d) d.focus();
  }
})();
