// Draws a scenario's history from the JSON the page embeds: energy per run (total and per step,
// commits as labels) and the mean energy above idle per pod. Chart.js is vendored, no CDN.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("scenario-data").textContent);
  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const wattHours = (value) => (value === null ? "unknown" : `${Number(value.toPrecision(4))} Wh`);

  const datasets = [{
    label: "total",
    data: data.total,
    borderColor: "#123",
    backgroundColor: "#123",
    borderWidth: 2.5,
    pointRadius: 2,
  }];
  Object.entries(data.steps).forEach(([name, values], i) => {
    datasets.push({
      label: name,
      data: values,
      borderColor: palette[i % palette.length],
      backgroundColor: palette[i % palette.length],
      borderWidth: 1.5,
      pointRadius: 1.5,
    });
  });
  const history = new Chart(document.getElementById("history-chart"), {
    type: "line",
    data: { labels: data.labels, datasets },
    options: {
      animation: false,
      responsive: true,
      spanGaps: false,
      scales: { y: { title: { display: true, text: "Wh" } } },
      plugins: {
        legend: { position: "bottom" },
        tooltip: {
          callbacks: {
            title: (items) => items.length
              ? `run #${data.runs[items[0].dataIndex]} (${data.labels[items[0].dataIndex]}), ${data.started[items[0].dataIndex].slice(0, 19)}`
              : "",
            label: (item) => `${item.dataset.label}: ${wattHours(item.parsed.y)}`,
          },
        },
      },
      // A click on a run opens its page.
      onClick: (_event, elements) => {
        if (elements.length) window.location.href = `../${data.runs[elements[0].index]}/`;
      },
    },
  });

  const podsCanvas = document.getElementById("pods-chart");
  const pods = podsCanvas && new Chart(podsCanvas, {
    type: "bar",
    data: {
      labels: data.pods,
      datasets: [{ label: "Wh above idle", data: data.pods_above_idle, backgroundColor: "#2ca02c" }],
    },
    options: {
      animation: false,
      responsive: true,
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            label: (item) => {
              const spread = data.pods_above_idle_stdev[item.dataIndex];
              return `${wattHours(item.parsed.y)}${spread === null ? "" : ` ± ${wattHours(spread)} (std. dev.)`}`;
            },
          },
        },
      },
    },
  });

  // For tests and curious people: what was drawn.
  window.energylabScenarioCharts = {
    history: {
      datasets: history.data.datasets.length,
      runs: history.data.labels.length,
      labels: history.data.labels,
    },
    pods: { bars: pods ? pods.data.labels.length : 0 },
  };
  document.body.dataset.chartsReady = "true";
})();
