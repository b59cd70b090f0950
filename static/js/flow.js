/* Flow page charts (Chart.js 4, UMD build, no date adapter: category and linear axes only).
 *
 * Reads the figures from <script id="flow-data"> (series, percentiles: flow/charts.py) and
 * <script id="flow-detail"> (per-item points and histograms, as stored: flow/report.py), and draws
 * the Cumulative Flow Diagram, the Cycle Time scatterplot, the Aging WIP chart, the Throughput and WIP
 * run charts and both Monte Carlo histograms. Each canvas gets data-drawn="1" once its chart exists.
 */
(function () {
  "use strict";
  var el = document.getElementById("flow-data");
  if (!el || typeof Chart === "undefined") { return; }
  var D = JSON.parse(el.textContent);
  var detail = JSON.parse(document.getElementById("flow-detail").textContent);
  Object.keys(detail).forEach(function (k) { D[k] = detail[k]; });
  var wall = document.querySelector("main.wall") !== null;
  var DAY = 86400000;
  var startMs = Date.parse(D.start + "T00:00:00Z");

  Chart.defaults.font.size = wall ? 18 : 14;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#1d2330";
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.legend.labels.boxWidth = wall ? 16 : 14;
  Chart.defaults.plugins.legend.labels.font = { size: wall ? 15 : 13 };

  var INK = "#1d2330", GRID = "rgba(29,35,48,.10)", BLUE = "#2457c5", LIGHT = "rgba(36,87,197,.35)";
  var PCT = { "50": "#1f8a4c", "70": "#b7791f", "85": "#dd6b20", "95": "#c53030" };
  var BANDS = [
    ["rgba(31,138,76,.13)", "below 50th"], ["rgba(236,201,75,.20)", "50th–70th"],
    ["rgba(221,107,32,.18)", "70th–85th"], ["rgba(197,48,48,.16)", "85th–95th"], ["rgba(120,20,20,.16)", "beyond 95th"]
  ];

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function iso(ms) { return new Date(ms).toISOString().slice(0, 10); }
  function dayLabel(i) { return iso(startMs + i * DAY); }
  /* Short tick labels: "24 Jul" within about a year, "Jul 2026" beyond. */
  function shortDate(isoText, days) {
    var y = isoText.slice(0, 4), m = MONTHS[Number(isoText.slice(5, 7)) - 1], d = Number(isoText.slice(8, 10));
    return (days === undefined ? D.wip.length : days) > 400 ? m + " " + y : d + " " + m;
  }
  function categoryDates(max) {
    return { ticks: { maxTicksLimit: max, maxRotation: 0, callback: function (v) { return shortDate(this.getLabelForValue(v)); } } };
  }
  function labels(n) { var out = new Array(n); for (var i = 0; i < n; i++) { out[i] = dayLabel(i); } return out; }
  function canvas(name) { return document.querySelector('canvas[data-chart="' + name + '"]'); }
  function make(name, config) {
    var c = canvas(name);
    if (!c) { return null; }
    var chart = new Chart(c, config);
    c.setAttribute("data-drawn", "1");
    return chart;
  }
  function nDays() { return D.wip.length; }
  /* Deterministic jitter so that dots of the same age in one column do not hide each other. */
  function jitter(i) { var x = Math.sin(i * 12.9898 + 78.233) * 43758.5453; return (x - Math.floor(x) - 0.5) * 0.6; }
  function useLog(values, p50) {
    var max = 0; values.forEach(function (v) { if (v > max) { max = v; } });
    return max > 60 && (!p50 || max / p50 > 25);
  }
  function colourOf(k) {
    if (k < D.started) { return "#9aa6bf"; }
    if (k >= D.finished) { return ["#1f8a4c", "#2f9e5f", "#48b476", "#6cc793"][Math.min(k - D.finished, 3)]; }
    var blues = ["#2457c5", "#3f73db", "#5d8ce6", "#7fa6ee", "#a2bff3"];
    return blues[(k - D.started) % blues.length];
  }
  function dateAxis(title) {
    return {
      type: "linear", min: 0, max: Math.max(1, nDays() - 1), title: { display: !wall, text: title },
      grid: { color: GRID }, ticks: { maxTicksLimit: wall ? 4 : 7, maxRotation: 0, includeBounds: false,
        callback: function (v) { return shortDate(dayLabel(Math.round(v))); } }
    };
  }
  function countAxis(title, log) {
    return { type: log ? "logarithmic" : "linear", beginAtZero: !log, min: log ? 1 : undefined, title: { display: !wall, text: title },
      grid: { color: GRID }, ticks: { precision: 0, callback: function (v) { return Number(v).toLocaleString(); } } };
  }
  function hline(value, x0, x1, label, colour, dash) {
    return { type: "line", label: label, data: [{ x: x0, y: value }, { x: x1, y: value }], borderColor: colour,
      borderWidth: wall ? 3 : 2, borderDash: dash || [], pointRadius: 0, fill: false, order: 0 };
  }

  /* 1. Cumulative Flow Diagram: each column's line filled down to the next column's line (a band per column). */
  var cfdLabels = labels(nDays());
  make("cfd", {
    type: "line",
    data: {
      labels: cfdLabels,
      datasets: D.columns.map(function (name, k) {
        return { label: name, data: D.cfd[k], borderColor: colourOf(k), backgroundColor: colourOf(k) + "cc",
          borderWidth: 1, pointRadius: 0, fill: k === D.columns.length - 1 ? "origin" : "+1" };
      })
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: { x: Object.assign(categoryDates(wall ? 6 : 10), { grid: { color: GRID } }), y: countAxis("items", false) },
      plugins: { legend: { position: "bottom", reverse: false }, tooltip: { itemSort: function (a, b) { return a.datasetIndex - b.datasetIndex; } } }
    }
  });

  /* 2. Cycle Time scatterplot with percentile lines and the SLE. */
  var cts = D.scatter.map(function (p) { return p[1]; });
  var scatterLog = useLog(cts, D.percentiles["50"]);
  var x1 = Math.max(1, nDays() - 1);
  var scatterSets = [{
    type: "scatter", label: "finished item", data: D.scatter.map(function (p) { return { x: p[0], y: p[1], k: p[2] }; }),
    backgroundColor: "rgba(36,87,197,.45)", borderColor: "rgba(36,87,197,.7)", pointRadius: wall ? 4 : 3, order: 1
  }];
  ["50", "70", "85", "95"].forEach(function (p) {
    if (D.percentiles[p] != null) { scatterSets.push(hline(D.percentiles[p], 0, x1, p + "th: " + D.percentiles[p] + " d", PCT[p])); }
  });
  if (D.sle.days) { scatterSets.push(hline(D.sle.days, 0, x1, "SLE " + D.sle.percent + "% ≤ " + D.sle.days + " d", INK, [8, 5])); }
  make("scatter", {
    type: "scatter",
    data: { datasets: scatterSets },
    options: {
      scales: { x: dateAxis("finished"), y: countAxis("Cycle Time (days)" + (scatterLog ? ", log scale" : ""), scatterLog) },
      plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: function (ctx) {
        var r = ctx.raw; return r.k ? r.k + ": " + r.y + " d, finished " + dayLabel(r.x) : ctx.dataset.label;
      } } } }
    }
  });

  /* 3. Aging WIP: one dot per item in progress, per column; bands between Cycle Time percentiles. */
  var first = D.started, last = Math.max(D.finished - 1, D.started);
  var agingCols = D.columns.slice(first, last + 1);
  var ages = D.ages.filter(function (a) { return a[1] >= first && a[1] <= last; });
  var agingLog = useLog(ages.map(function (a) { return a[2]; }), D.percentiles["50"]);
  var bandsPlugin = {
    id: "percentileBands",
    beforeDatasetsDraw: function (chart) {
      var y = chart.scales.y, area = chart.chartArea, ctx = chart.ctx;
      var edges = [y.min, D.percentiles["50"], D.percentiles["70"], D.percentiles["85"], D.percentiles["95"], y.max];
      if (edges.slice(1, 5).some(function (v) { return v == null; })) { return; }
      ctx.save();
      for (var i = 0; i < 5; i++) {
        var top = y.getPixelForValue(Math.min(edges[i + 1], y.max)), bottom = y.getPixelForValue(Math.max(edges[i], y.min));
        if (bottom <= area.top || top >= area.bottom) { continue; }
        ctx.fillStyle = BANDS[i][0];
        ctx.fillRect(area.left, Math.max(top, area.top), area.right - area.left, Math.min(bottom, area.bottom) - Math.max(top, area.top));
      }
      ctx.restore();
    }
  };
  var agingSets = [{
    type: "scatter", label: "item in progress", order: 1,
    data: ages.map(function (a, i) { return { x: a[1] - first + jitter(i), y: a[2], k: a[0] }; }),
    backgroundColor: "rgba(29,35,48,.65)", pointRadius: wall ? 5 : 4
  }];
  var ax1 = agingCols.length - 0.5;
  ["50", "70", "85", "95"].forEach(function (p) {
    if (D.percentiles[p] != null) { agingSets.push(hline(D.percentiles[p], -0.5, ax1, p + "th: " + D.percentiles[p] + " d", PCT[p])); }
  });
  if (D.sle.days) { agingSets.push(hline(D.sle.days, -0.5, ax1, "SLE " + D.sle.days + " d", INK, [8, 5])); }
  make("aging", {
    type: "scatter",
    data: { datasets: agingSets },
    options: {
      scales: {
        x: { type: "linear", min: -0.5, max: ax1, grid: { display: false },
             afterBuildTicks: function (axis) { axis.ticks = agingCols.map(function (_n, i) { return { value: i }; }); },
             ticks: { autoSkip: false, callback: function (v) { return agingCols[Math.round(v)] || ""; } } },
        y: countAxis("Work Item Age (days)" + (agingLog ? ", log scale" : ""), agingLog)
      },
      plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: function (ctx) {
        var r = ctx.raw; return r.k ? r.k + ": " + r.y + " d in " + agingCols[Math.round(r.x)] : ctx.dataset.label;
      } } } }
    },
    plugins: [bandsPlugin]
  });

  /* 4. Throughput run chart: per week (per day for 91 days or fewer). */
  var daily = nDays() <= 91;
  var tpLabels = daily ? cfdLabels : D.weeks.map(function (w) { return w[0]; });
  var tpData = daily ? D.throughput : D.weeks.map(function (w) { return w[1]; });
  var tpColours = daily ? BLUE : D.weeks.map(function (w) { return w[2] ? BLUE : LIGHT; });
  var tpSets = [{ type: "bar", label: daily ? "items finished per day" : "items finished per week (light: partial week)",
    data: tpData, backgroundColor: tpColours, borderWidth: 0, order: 1 }];
  if (!daily) {
    tpSets.push({ type: "line", label: "mean of complete weeks: " + D.mean_weekly_throughput,
      data: tpLabels.map(function () { return D.mean_weekly_throughput; }), borderColor: PCT["85"], borderWidth: 2, pointRadius: 0, order: 0 });
  }
  make("throughput", {
    type: "bar",
    data: { labels: tpLabels, datasets: tpSets },
    options: {
      scales: { x: Object.assign(categoryDates(wall ? 4 : 8), { grid: { display: false } }), y: countAxis("items", false) },
      plugins: { legend: { position: "bottom" } }
    }
  });

  /* 5. WIP run chart. */
  make("wip", {
    type: "line",
    data: {
      labels: cfdLabels,
      datasets: [
        { label: "WIP (start and finish days count)", data: D.wip, borderColor: BLUE, backgroundColor: "rgba(36,87,197,.12)", fill: "origin", pointRadius: 0, borderWidth: 2 },
        { label: "end-of-day WIP", data: D.wip_eod, borderColor: INK, borderDash: [6, 4], pointRadius: 0, borderWidth: 1.5, fill: false },
        { label: "mean: " + D.mean_daily_wip, data: cfdLabels.map(function () { return D.mean_daily_wip; }), borderColor: PCT["85"], pointRadius: 0, borderWidth: 2, fill: false }
      ]
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: { x: Object.assign(categoryDates(wall ? 4 : 8), { grid: { color: GRID } }), y: countAxis("items", false) },
      plugins: { legend: { position: "bottom" } }
    }
  });

  /* 6 and 7. Monte Carlo histograms; the bars at the confidence answers are dark and named. */
  function confidenceOf(value, answers) {
    var names = D.confidences.filter(function (c) { return answers[c] === value; });
    return names.length ? names.map(function (c) { return c + "%"; }).join(", ") : "";
  }
  function histogram(name, pairs, answers, xTitle, dates) {
    var hl = pairs.map(function (p) { return confidenceOf(p[0], answers); });
    make(name, {
      type: "bar",
      data: {
        labels: pairs.map(function (p) { return String(p[0]); }),
        datasets: [{ label: "trials", data: pairs.map(function (p) { return p[1]; }),
          backgroundColor: hl.map(function (h) { return h ? BLUE : LIGHT; }), borderWidth: 0, barPercentage: 1, categoryPercentage: 0.95 }]
      },
      options: {
        scales: { x: { title: { display: true, text: xTitle }, grid: { display: false },
                       ticks: { maxTicksLimit: wall ? 6 : 12, maxRotation: 0, callback: function (v) {
                         var label = this.getLabelForValue(v); return dates ? shortDate(label, pairs.length) : label; } } },
                  y: countAxis("trials", false) },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { afterLabel: function (ctx) { var h = hl[ctx.dataIndex]; return h ? "answer at " + h + " confidence" : ""; } } }
        }
      }
    });
  }
  histogram("mc-how-many", D.mc_how_many_histogram, D.mc_how_many, "items in " + D.mc_days + " days (dark: answers at 50/70/85/95%)", false);
  histogram("mc-when", D.mc_when_histogram, D.mc_when, "done by (dark: answers at 50/70/85/95%)", true);
})();
