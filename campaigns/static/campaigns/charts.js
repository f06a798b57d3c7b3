/* Campaign charts (Chart.js 4, vendored at static/vendor/chartjs). Reads the JSON the page
   embeds in #campaign-chart-data; draws nothing (and fails nothing) when Chart.js is missing. */
(function () {
  "use strict";
  var source = document.getElementById("campaign-chart-data");
  if (!source || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var colors = { facebook: "#1877f2", instagram: "#d62976", google_ads: "#34a853", tiktok: "#111827" };
  var money = function (v) { return v === null ? "n/a" : Number(v).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }); };
  var percent = function (v) { return v === null ? "n/a" : (Number(v) * 100).toFixed(1) + "%"; };
  var base = { responsive: true, maintainAspectRatio: true, aspectRatio: 2.4, interaction: { mode: "index", intersect: false },
    plugins: { legend: { position: "bottom" } } };

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { new window.Chart(canvas, config); }
  }

  if (data.series) {
    draw("chart-spend", { type: "line", data: { labels: data.labels, datasets: data.series.map(function (s) {
      return { label: s.label, data: s.spend, borderColor: colors[s.channel], backgroundColor: colors[s.channel], tension: 0.25, pointRadius: 0 };
    }) }, options: Object.assign({}, base, { scales: { y: { beginAtZero: true, ticks: { callback: money } } },
      plugins: Object.assign({}, base.plugins, { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + money(c.parsed.y); } } } }) }) });
    draw("chart-roi", { type: "line", data: { labels: data.labels, datasets: data.series.map(function (s) {
      return { label: s.label, data: s.roi, borderColor: colors[s.channel], backgroundColor: colors[s.channel], tension: 0.25, pointRadius: 0, spanGaps: false };
    }) }, options: Object.assign({}, base, { scales: { y: { ticks: { callback: percent } } },
      plugins: Object.assign({}, base.plugins, { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + percent(c.parsed.y); } } } }) }) });
    draw("chart-channels", { type: "bar", data: { labels: data.comparison.map(function (c) { return c.label; }), datasets: [
      { label: "Spend", data: data.comparison.map(function (c) { return c.cost; }), backgroundColor: "#94a3b8" },
      { label: "Revenue", data: data.comparison.map(function (c) { return c.revenue; }), backgroundColor: "#4f46e5" }
    ] }, options: Object.assign({}, base, { aspectRatio: 1.3, scales: { y: { beginAtZero: true, ticks: { callback: money } } } }) });
  } else {
    draw("chart-campaign", { type: "bar", data: { labels: data.labels, datasets: [
      { type: "line", label: "Spend", data: data.cost, borderColor: "#94a3b8", backgroundColor: "#94a3b8", yAxisID: "y", pointRadius: 0 },
      { type: "line", label: "Revenue", data: data.revenue, borderColor: "#4f46e5", backgroundColor: "#4f46e5", yAxisID: "y", pointRadius: 0 },
      { type: "bar", label: "Conversions", data: data.conversions, backgroundColor: "rgba(16,185,129,.35)", yAxisID: "y1" }
    ] }, options: Object.assign({}, base, { aspectRatio: 3, scales: {
      y: { beginAtZero: true, position: "left", ticks: { callback: money } },
      y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } }) });
  }
})();
