/* devlog dashboard: draw the charts embedded in a page, and submit the filter bar on change.
 * Charts are declared in the HTML: <canvas data-chart="ID"> plus <script type="application/json" id="ID">
 * holding labels and datasets computed by the server. Runs on first load and after every htmx swap.
 * A swap (every filter change, every boosted link) brings new canvases; Chart.js keeps each chart it
 * made in Chart.instances, with its canvas and resize listeners, until it is destroyed, so the chart a
 * canvas replaces and charts whose canvas left the page are destroyed before new ones are drawn. */
(function () {
  "use strict";
  var formatters = {
    USD: function (v) { return "$" + Number(v).toLocaleString(undefined, {minimumFractionDigits: 2, maximumFractionDigits: 2}); }
  };
  // Axis ticks: whole dollars from $100 up ("$14,000", not "$14,000.00"); cents below.
  var tickFormatters = {
    USD: function (v) {
      var digits = Math.abs(Number(v)) >= 100 ? 0 : 2;
      return "$" + Number(v).toLocaleString(undefined, {minimumFractionDigits: digits, maximumFractionDigits: digits});
    }
  };
  function format(unit, value) {
    return formatters[unit] ? formatters[unit](value) : Number(value).toLocaleString();
  }
  function formatTick(unit, value) {
    return tickFormatters[unit] ? tickFormatters[unit](value) : format(unit, value);
  }
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  function destroyDetached() {
    if (!window.Chart) return;
    Object.keys(window.Chart.instances).forEach(function (key) {
      var chart = window.Chart.instances[key];
      if (chart && !(chart.canvas && chart.canvas.isConnected)) chart.destroy();
    });
    var drawn = window.devlogCharts || {};
    Object.keys(drawn).forEach(function (id) {
      if (!drawn[id].canvas) delete drawn[id];  // destroyed charts have no canvas
    });
  }

  function draw(canvas) {
    if (!window.Chart || canvas.dataset.drawn) return;
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    window.devlogCharts = window.devlogCharts || {};
    [window.devlogCharts[canvas.id], window.Chart.getChart(canvas)].forEach(function (previous) {
      if (previous && previous.canvas) previous.destroy();
    });
    var spec = JSON.parse(source.textContent);
    var horizontal = !!spec.horizontal;
    var ink = css("--muted") || "#6b7280", grid = css("--line") || "#e3e6eb";
    var valueAxis = {stacked: true, beginAtZero: true, grid: {color: grid}, ticks: {color: ink, callback: function (v) { return formatTick(spec.unit, v); }}};
    // A horizontal chart's bars are named on the y axis: every name is shown (Chart.js skips every
    // other one when they are tight, and a bar then reads as the named one above it); the page sizes
    // the chart's box to its number of bars. Dates on an x axis may still be skipped.
    var categoryAxis = {stacked: true, grid: {display: false}, ticks: {color: ink, maxRotation: 0, autoSkipPadding: 12, autoSkip: !horizontal}};
    var chart = new window.Chart(canvas, {
      type: "bar",
      data: {labels: spec.labels, datasets: spec.datasets.map(function (d) {
        return {label: d.label, data: d.data, backgroundColor: d.backgroundColor, stack: d.stack, borderRadius: 2, maxBarThickness: 42};
      })},
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: {mode: "index", intersect: false},
        scales: horizontal ? {x: valueAxis, y: categoryAxis} : {x: categoryAxis, y: valueAxis},
        plugins: {
          legend: {position: "bottom", labels: {color: ink, boxWidth: 10, boxHeight: 10, usePointStyle: false}},
          tooltip: {callbacks: {label: function (ctx) { return ctx.dataset.label + ": " + format(spec.unit, ctx.parsed[horizontal ? "x" : "y"]); }}}
        }
      }
    });
    canvas.dataset.drawn = "1";
    window.devlogCharts[canvas.id] = chart;
  }

  function init(root) {
    destroyDetached();
    (root || document).querySelectorAll("canvas[data-chart]").forEach(draw);
    (root || document).querySelectorAll("form[data-autosubmit]").forEach(function (form) {
      if (form.dataset.bound) return;
      form.dataset.bound = "1";
      // A pointer choice applies at once. A typed one (arrow keys in a select, digits in a date box,
      // which fires `change` at its first year digit) waits for Enter or for focus to leave the
      // filters, so a keyboard user can move through the options and type a whole date range
      // (From, then To: moving from one box to the other applies nothing yet).
      var lastKey = 0;
      var pending = null;
      function apply(control, keepFocus) {
        pending = null;
        if (keepFocus && control && control.name) {
          try { sessionStorage.setItem("devlog-filter-focus", control.name); } catch (e) { /* private mode */ }
        }
        if (form.requestSubmit) form.requestSubmit(); else form.submit();
      }
      function incompleteDate(control) {
        if (control.type !== "date") return false;
        if (control.validity && control.validity.badInput) return true;  // some parts typed, not all
        return control.value !== "" && Number(control.value.slice(0, 4)) < 1970;
      }
      form.addEventListener("keydown", function (event) {
        lastKey = Date.now();
        if (event.key === "Enter" && pending) {
          event.preventDefault();
          var typing = event.target && event.target.name ? event.target : pending;
          if (!incompleteDate(pending) && !incompleteDate(typing)) apply(typing, true);
        }
      }, true);
      form.addEventListener("change", function (event) {
        var control = event.target;
        var name = control.name;
        if (name === "period") { form.elements.from.value = ""; form.elements.to.value = ""; }
        if ((name === "from" || name === "to") && form.elements.period) {
          var custom = form.elements.period.querySelector("option[value=custom]");
          if (!custom) { custom = new Option("Custom", "custom"); form.elements.period.add(custom); }
          form.elements.period.value = "custom";
        }
        var typed = control.type === "date" || (control.tagName === "SELECT" && Date.now() - lastKey < 1000);
        if (typed) { pending = control; return; }
        apply(control, true);
      });
      form.addEventListener("focusout", function (event) {
        if (!pending || incompleteDate(pending)) return;
        var next = event.relatedTarget;
        if (next && form.contains(next)) return;  // still in the filters: From to To, say
        apply(pending, false);  // focus went elsewhere on the page: leave it there
      });
      var focusName = null;
      try { focusName = sessionStorage.getItem("devlog-filter-focus"); sessionStorage.removeItem("devlog-filter-focus"); } catch (e) { /* private mode */ }
      if (focusName && form.elements[focusName] && form.elements[focusName].focus) form.elements[focusName].focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
