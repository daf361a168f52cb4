// Draws a run's charts from the JSON the page embeds: power per server with step bands, and
// energy per step. Chart.js is vendored (static/events/vendor), no CDN.
(function () {
  "use strict";
  const report = JSON.parse(document.getElementById("report-data").textContent);
  const series = JSON.parse(document.getElementById("series-data").textContent);
  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const bandColours = ["rgba(31,119,180,0.08)", "rgba(255,127,14,0.10)"];

  // Step bands: shaded rectangles behind the lines, labelled with the step's name.
  const stepBands = {
    id: "stepBands",
    beforeDatasetsDraw(chart) {
      const { ctx, chartArea, scales } = chart;
      ctx.save();
      series.steps.forEach((step, i) => {
        const left = Math.max(scales.x.getPixelForValue(step.start), chartArea.left);
        const right = Math.min(scales.x.getPixelForValue(step.end), chartArea.right);
        if (right <= left) return;
        ctx.fillStyle = bandColours[i % 2];
        ctx.fillRect(left, chartArea.top, right - left, chartArea.bottom - chartArea.top);
        ctx.fillStyle = "#555";
        ctx.font = "12px sans-serif";
        ctx.fillText(step.name, left + 4, chartArea.top + 14, right - left - 8);
      });
      ctx.restore();
    },
  };

  // Tooltips as the tables round: W to 0.1, Wh to 4 significant digits (the JSON has them all).
  const watts = (value) => `${value.toFixed(1)} W`;
  const wattHours = (value) => `${Number(value.toPrecision(4))} Wh`;

  // No samples: the page says so in place of a canvas (an empty chart would look like zero).
  const powerCanvas = document.getElementById("power-chart");
  const power = powerCanvas && new Chart(powerCanvas, {
    type: "line",
    data: {
      datasets: series.servers.map((s, i) => ({
        label: s.server,
        data: s.points.map(([x, y]) => ({ x, y })),
        borderColor: palette[i % palette.length],
        pointRadius: 0,
        borderWidth: 1.5,
        stepped: false,
      })),
    },
    options: {
      animation: false,
      parsing: false,
      responsive: true,
      scales: {
        x: { type: "linear", min: 0, max: series.duration, title: { display: true, text: "s" } },
        y: { title: { display: true, text: "W" } },
      },
      plugins: {
        legend: { position: "bottom" },
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${watts(item.parsed.y)}` } },
      },
    },
    plugins: [stepBands],
  });

  const energyCanvas = document.getElementById("energy-chart");
  const energy = energyCanvas && new Chart(energyCanvas, {
    type: "bar",
    data: {
      labels: report.steps.map((s) => s.name),
      datasets: [{
        label: "Wh",
        data: report.steps.map((s) => s.energy_wh),
        backgroundColor: "#2ca02c",
      }],
    },
    options: {
      animation: false,
      responsive: true,
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (item) => wattHours(item.parsed.y) } },
      },
    },
  });

  // For tests and curious people: what was drawn.
  window.energylabCharts = {
    power: power
      ? { datasets: power.data.datasets.length, points: power.data.datasets.reduce((n, d) => n + d.data.length, 0) }
      : { datasets: 0, points: 0 },
    energy: { bars: energy ? energy.data.labels.length : 0 },
  };
  document.body.dataset.chartsReady = "true";
})();
