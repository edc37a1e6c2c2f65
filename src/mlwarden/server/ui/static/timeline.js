// mlwarden UI: the time of a model page. Deploy / note markers on every chart and heat map,
// drag across a chart to zoom (the URL follows), auto-refresh of the page's data. Loaded
// before app.js, which builds the charts with the plugins registered here. Without
// JavaScript the page still works: markers are listed under the tabs, ranges are set with
// the filters.
(function () {
  "use strict";

  var markers = [];
  function readMarkers(doc) {
    var script = doc.getElementById("chart-markers");
    try { markers = script ? JSON.parse(script.textContent) : []; } catch (e) { markers = []; }
  }
  readMarkers(document);

  // Line charts: a vertical line per marker within the chart's x range, its label on top and
  // the full text as a tooltip; a span (with an end) is a shaded band.
  function drawMarkers(u, el) {
    var layer = u.over.querySelector(".markers");
    if (!layer) {
      layer = document.createElement("div");
      layer.className = "markers";
      u.over.appendChild(layer);
    }
    layer.textContent = "";
    var lo = u.scales.x.min, hi = u.scales.x.max, shown = 0;
    markers.forEach(function (m) {
      var end = m.end == null ? m.t : m.end;
      if (end < lo || m.t > hi) return;
      var left = u.valToPos(Math.max(m.t, lo), "x");
      var div = document.createElement("div");
      div.className = "marker m-" + m.kind + (m.end == null ? "" : " span");
      div.style.left = left + "px";
      if (m.end != null) div.style.width = Math.max(2, u.valToPos(Math.min(end, hi), "x") - left) + "px";
      div.setAttribute("data-marker-t", String(m.t));
      div.title = m.title;
      var label = document.createElement("span");
      label.className = "marker-label";
      label.style.top = (shown % 3) * 1.3 + "em"; // neighbours do not write over each other
      label.textContent = m.label;
      div.appendChild(label);
      layer.appendChild(div);
      shown += 1;
    });
    el.setAttribute("data-markers", String(shown));
  }

  // Heat maps: the column holding a marker's time (every column a span covers) gets a line
  // on its left edge and a marker in its head with the text as a tooltip.
  function markHeatmaps(root) {
    root.querySelectorAll("table.heat").forEach(function (table) {
      table.querySelectorAll(".hm-marker").forEach(function (x) { x.remove(); });
      table.querySelectorAll(".marked").forEach(function (x) { x.classList.remove("marked"); });
      var heads = Array.prototype.slice.call(table.querySelectorAll("th.day[data-t]"));
      var ts = heads.map(function (h) { return Number(h.getAttribute("data-t")); });
      var step = 86400;
      for (var k = 1; k < ts.length; k++) step = Math.min(step, ts[k] - ts[k - 1]);
      var rows = table.querySelectorAll("tbody tr");
      var n = 0;
      markers.forEach(function (m) {
        var end = m.end == null ? m.t : m.end;
        heads.forEach(function (head, i) {
          var colEnd = i + 1 < ts.length ? ts[i + 1] : ts[i] + step;
          if (!(m.t < colEnd && end >= ts[i])) return;
          head.classList.add("marked");
          var tag = document.createElement("span");
          tag.className = "hm-marker m-" + m.kind;
          tag.title = m.title;
          tag.setAttribute("role", "img");
          tag.setAttribute("aria-label", m.title);
          tag.textContent = "▾";
          head.insertBefore(tag, head.firstChild);
          rows.forEach(function (tr) {
            var cell = tr.querySelectorAll("td.cell")[i];
            if (cell) cell.classList.add("marked");
          });
          n += 1;
        });
      });
      table.setAttribute("data-markers", String(n));
    });
  }
  markHeatmaps(document);

  // Drag to zoom: the selected span becomes the page's range (start and end in the URL, to
  // the minute, UTC); the browser's back button returns to the previous range.
  function minute(sec) { return new Date(Math.round(sec / 60) * 60000).toISOString().slice(0, 16); }
  function zoom(u) {
    var s = u.select;
    if (!s || s.width < 8) return;
    var lo = u.posToVal(s.left, "x"), hi = u.posToVal(s.left + s.width, "x");
    if (hi - lo < 60) hi = lo + 60;
    var url = new URL(window.location.href);
    url.searchParams.set("start", minute(lo));
    url.searchParams.set("end", minute(hi));
    ["page", "window", "feature"].forEach(function (k) { url.searchParams.delete(k); });
    url.hash = "";
    window.location.assign(url.toString());
  }

  window.mlwardenChartPlugins = (window.mlwardenChartPlugins || []).concat([function (el) {
    el.classList.add("zoomable");
    el.setAttribute("title", "Drag across the chart to zoom in");
    return {
      opts: function (u, opts) {
        opts.cursor = opts.cursor || {};
        opts.cursor.drag = { x: true, y: false, setScale: false };
        return opts;
      },
      hooks: {
        draw: [function (u) { drawMarkers(u, el); }],
        setSelect: [zoom]
      }
    };
  }]);

  // Auto-refresh: every N seconds (the URL's refresh=30s|1m|5m) the page is fetched again and
  // its live parts ([data-live]: the summary, the tab, the markers) are swapped in place:
  // scroll position, open details and heat-map scroll stay; nothing happens while the tab is
  // hidden, a button is held or a field has the focus.
  var held = false;
  document.addEventListener("mousedown", function () { held = true; });
  document.addEventListener("mouseup", function () { held = false; });
  var refreshes = 0;
  function refreshNow() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var x = window.scrollX, y = window.scrollY;
        readMarkers(doc);
        document.querySelectorAll("[data-live][id]").forEach(function (old) {
          var fresh = doc.getElementById(old.id);
          if (!fresh) return;
          var open = Array.prototype.map.call(old.querySelectorAll("details"), function (d) { return d.open; });
          var lefts = Array.prototype.map.call(old.querySelectorAll(".scroll"), function (w) { return w.scrollLeft; });
          if (window.mlwarden) window.mlwarden.unmount(old);
          var node = document.importNode(fresh, true);
          old.parentNode.replaceChild(node, old);
          node.querySelectorAll("details").forEach(function (d, i) { if (i < open.length) d.open = open[i]; });
          if (window.mlwarden) window.mlwarden.mount(node);
          markHeatmaps(node);
          node.querySelectorAll(".scroll").forEach(function (w, i) { if (i < lefts.length) w.scrollLeft = lefts[i]; });
        });
        window.scrollTo(x, y);
        refreshes += 1;
        document.documentElement.setAttribute("data-refreshes", String(refreshes));
        return true;
      });
  }
  var select = document.getElementById("f-refresh");
  var chosen = select ? select.options[select.selectedIndex] : null;
  var seconds = Number(chosen ? chosen.getAttribute("data-seconds") : 0);
  if (seconds > 0) {
    var status = document.createElement("span");
    status.className = "muted small refresh-status";
    status.setAttribute("role", "status");
    select.parentNode.appendChild(status);
    var busy = false;
    setInterval(function () {
      var a = document.activeElement;
      if (busy || held || document.hidden || (a && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName))) return;
      busy = true;
      refreshNow().then(function () {
        status.textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
      }, function (e) {
        status.textContent = "refresh failed (" + e.message + "), trying again";
      }).then(function () { busy = false; });
    }, seconds * 1000);
  }
})();
