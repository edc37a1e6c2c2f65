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

  // Charts: each [data-chart] names a JSON script with x (epoch s), series and both axes
  // (range, ticks and labels decided by the server, see ui/axes.py); what was drawn is
  // written back on the element (data-x-*, data-y-*) for tests and tools.
  var PALETTE = ["#1f5fa8", "#7a3e9d", "#0f7b6c", "#a15c00", "#b3261e", "#4a4a4a"];
  var charts = [];
  function fmtNum(v) {
    if (Math.abs(v) >= 1e4) return Math.round(v).toLocaleString("en-US");
    return String(Number(v.toPrecision(4)));
  }
  function fmtValue(format, v) {
    if (v == null) return "--";
    if (format === "pct") return (v * 100).toFixed(2) + "%";
    if (format === "usd") return (v < 0 ? "-$" : "$") + fmtNum(Math.abs(v));
    return fmtNum(v);
  }
  function fmtTime(v) {
    return v == null ? "--" : new Date(v * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }
  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }
  function axisOf(spec, el, name, label) {
    // fixed ticks and labels: uPlot draws exactly the server's, and records what it drew;
    // text and grid in the page's colours (light or dark, as the system says)
    return {
      label: label || "",
      stroke: cssVar("--fg", "#1a1a1a"),
      grid: { stroke: cssVar("--line", "#d0d0d0"), width: 1 },
      ticks: { stroke: cssVar("--line", "#d0d0d0"), width: 1 },
      splits: function () { return spec.ticks.slice(); },
      values: function (u, splits) {
        var out = splits.map(function (v) {
          var i = spec.ticks.indexOf(v);
          return i < 0 ? "" : spec.labels[i];
        });
        el.setAttribute("data-" + name + "-labels", JSON.stringify(out));
        return out;
      }
    };
  }
  function build(el) {
    var spec = JSON.parse(document.getElementById(el.getAttribute("data-chart")).textContent);
    var data = [spec.x];
    var series = [{ value: function (u, v) { return fmtTime(v); } }];
    spec.series.forEach(function (s, i) {
      data.push(s.values);
      var opt = { label: s.label, spanGaps: false, points: { show: spec.x.length < 60 } };
      if (s.band) {
        opt.stroke = "rgba(122,62,157,0.35)"; opt.width = 1; opt.points = { show: false };
      } else {
        opt.stroke = s.color || PALETTE[i % PALETTE.length]; opt.width = s.width || 1.5;
        if (s.dash) opt.dash = s.dash;
      }
      opt.value = function (u, v) { return fmtValue(spec.yFormat, v); };
      series.push(opt);
    });
    var xa = spec.xAxis, ya = spec.yAxis;
    var longest = Math.max.apply(null, ya.labels.map(function (l) { return l.length; }).concat([1]));
    var yAxis = axisOf(ya, el, "y", spec.yLabel);
    yAxis.size = Math.max(50, 16 + 8 * longest) + (spec.yLabel ? 20 : 0);
    var xAxis = axisOf(xa, el, "x", "");
    xAxis.size = 48;
    var opts = {
      width: Math.max(260, el.clientWidth),
      height: 220,
      series: series,
      axes: [xAxis, yAxis],
      scales: {
        x: { time: true, range: function () { return [xa.min, xa.max]; } },
        y: { range: function () { return [ya.min, ya.max]; } }
      },
      bands: (spec.bands || []).map(function (b) { return { series: b, fill: "rgba(122,62,157,0.15)" }; }),
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      // markers, drag to zoom (timeline.js registers them before this script runs)
      plugins: (window.mlwardenChartPlugins || []).map(function (make) { return make(el, spec); }),
      hooks: {
        draw: [function (u) {
          ["x", "y"].forEach(function (k) {
            el.setAttribute("data-" + k + "-min", String(u.scales[k].min));
            el.setAttribute("data-" + k + "-max", String(u.scales[k].max));
          });
        }]
      }
    };
    var plot = new uPlot(opts, data, el);
    charts.push({ el: el, plot: plot });
  }
  function mountCharts(root) {
    if (typeof uPlot !== "undefined") root.querySelectorAll("[data-chart]").forEach(build);
  }
  function unmountCharts(root) {
    charts = charts.filter(function (c) {
      if (!root.contains(c.el)) return true;
      c.plot.destroy();
      return false;
    });
  }
  mountCharts(document);
  if (typeof uPlot !== "undefined") {
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        charts.forEach(function (c) { c.plot.setSize({ width: Math.max(260, c.el.clientWidth), height: 220 }); });
      }, 150);
    });
  }

  // Long form posts (Evaluate now) say they are working until the next page arrives.
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var status = form.querySelector('[role="status"]');
      var button = form.querySelector('button[type="submit"]');
      var started = Date.now();
      if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
      if (!status) return;
      var bar = document.createElement("span");
      bar.className = "progress"; bar.setAttribute("aria-hidden", "true");
      bar.appendChild(document.createElement("span"));
      var text = document.createElement("span");
      status.textContent = "";
      status.appendChild(bar); status.appendChild(document.createTextNode(" ")); status.appendChild(text);
      function tick() { text.textContent = form.getAttribute("data-busy") + " (" + Math.round((Date.now() - started) / 1000) + " s)"; }
      tick();
      setInterval(tick, 1000);
    });
  });

  // Every table can be downloaded as CSV (what it shows: a heat-map cell is its status, a
  // column head with a full date in its title is that date).
  function csvText(cell) {
    var abbr = cell.querySelector("abbr[title]");
    var text = cell.textContent;
    if (cell.querySelector("form, button, input, select, textarea")) {
      // a cell's controls (Delete, Acknowledge) are not data
      var copy = cell.cloneNode(true);
      copy.querySelectorAll("form, button, input, select, textarea").forEach(function (c) { c.remove(); });
      text = copy.textContent;
    }
    var t = cell.getAttribute("data-csv") || cell.getAttribute("data-status") ||
      (abbr ? abbr.getAttribute("title") : null) || text || "";
    t = t.replace(/\s+/g, " ").trim();
    if (/^[=+\-@]/.test(t) && isNaN(Number(t))) t = "'" + t; // not a formula in a spreadsheet
    return /[",\r\n]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t;
  }
  function csvLinks(root) {
  var tables = root === document ? document.querySelectorAll("main table:not(.u-legend)")
    : root.querySelectorAll("table:not(.u-legend)");
  tables.forEach(function (table, i) {
    if (table.querySelectorAll("tbody tr").length === 0) return;
    var link = document.createElement("a");
    var name = (document.title.split(" · ")[0] + "-" + (table.getAttribute("data-csv-name") || table.className.split(" ").pop() || "table") + "-" + (i + 1))
      .replace(/[^A-Za-z0-9._-]+/g, "-");
    link.href = "#"; link.className = "csv small"; link.download = name + ".csv";
    link.textContent = "Download CSV";
    link.addEventListener("click", function () {
      var lines = [];
      table.querySelectorAll("tr").forEach(function (tr) {
        lines.push(Array.prototype.map.call(tr.children, csvText).join(","));
      });
      var blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
      if (link.href.indexOf("blob:") === 0) URL.revokeObjectURL(link.href);
      link.href = URL.createObjectURL(blob);
    });
    var after = table.closest(".scroll") || table;
    var p = document.createElement("p");
    p.className = "csv-link";
    p.appendChild(link);
    after.parentNode.insertBefore(p, after.nextSibling);
  });
  }
  csvLinks(document);

  // A part of the page swapped for a fresh copy (auto-refresh, timeline.js) is set up again.
  window.mlwarden = {
    mount: function (root) { mountCharts(root); csvLinks(root); },
    unmount: unmountCharts
  };

  // Heat maps wider than the window open on their latest windows (where news is).
  document.querySelectorAll(".heat-wrap").forEach(function (w) { w.scrollLeft = w.scrollWidth; });

  // A drill-down opened from a heat-map cell takes the focus (keyboard and screen readers).
  if (window.location.hash === "#drilldown") {
    var d = document.getElementById("drilldown");
    if (d) d.focus();
  }
})();
