/* chainlens serve: draws the Plotly charts of a page from their JSON specs (data-figure), switches the
   theme, and wires a few auto-submitting selects. Loaded from this server only (CSP
   script-src 'self'); no inline script, no eval. */
(function () {
  "use strict";
  var KEY = "chainlens-theme";

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function themed(layout) {
    var fg = cssVar("--fg"), bg = cssVar("--panel"), grid = cssVar("--grid");
    layout = Object.assign({}, layout);
    layout.paper_bgcolor = bg;
    layout.plot_bgcolor = bg;
    layout.font = Object.assign({}, layout.font || {}, { color: fg });
    ["xaxis", "yaxis", "yaxis2"].forEach(function (ax) {
      if (layout[ax] || ax !== "yaxis2") {
        layout[ax] = Object.assign({}, layout[ax] || {}, { gridcolor: grid, zerolinecolor: grid });
      }
    });
    layout.autosize = true;
    return layout;
  }

  function drawCharts(root) {
    if (typeof Plotly === "undefined") { return; }
    (root || document).querySelectorAll("div.chart[data-figure]").forEach(function (el) {
      var spec;
      try { spec = JSON.parse(el.getAttribute("data-figure")); } catch (e) { return; }
      Plotly.react(el, spec.data || [], themed(spec.layout || {}), {
        responsive: true, displaylogo: false, showLink: false, showSendToCloud: false,
        showEditInChartStudio: false, typesetMath: false,
        // Plotly's defaults point at plot.ly hosts (chart studio, topojson): keep them local.
        plotlyServerURL: window.location.origin, topojsonURL: "/static/",
        modeBarButtonsToRemove: ["sendDataToCloud"]
      });
      el.setAttribute("data-drawn", String(spec.data ? spec.data.length : 0));
    });
  }

  function applyTheme(t) {
    document.documentElement.setAttribute("data-theme", t);
    try { localStorage.setItem(KEY, t); } catch (e) { /* private mode */ }
  }

  function wire(root) {
    (root || document).querySelectorAll("select.autosubmit").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });
    (root || document).querySelectorAll("select.goto").forEach(function (s) {
      s.addEventListener("change", function () {
        window.location.href = s.getAttribute("data-prefix") + encodeURIComponent(s.value);
      });
    });
  }

  var saved = null;
  try { saved = localStorage.getItem(KEY); } catch (e) { saved = null; }
  if (!saved && window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches) {
    saved = "dark";
  }
  applyTheme(saved || "light");

  document.addEventListener("DOMContentLoaded", function () {
    var btn = document.getElementById("theme-toggle");
    if (btn) {
      btn.addEventListener("click", function () {
        var cur = document.documentElement.getAttribute("data-theme");
        applyTheme(cur === "dark" ? "light" : "dark");
        drawCharts(document);
      });
    }
    wire(document);
    drawCharts(document);
    document.body.addEventListener("htmx:afterSettle", function () {
      wire(document.getElementById("content"));
      drawCharts(document);
    });
  });
})();
