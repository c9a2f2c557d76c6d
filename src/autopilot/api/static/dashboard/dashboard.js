// Autopilot dashboard: the chart, and live updates of each page's #live part without reloading.
// Every few seconds (data-poll-ms on <body>) the page fetches its own URL with ?fragment=1 and
// puts the answer in place. A 401 means the session ended: back to the sign-in form.
(function () {
  "use strict";
  var COLORS = {
    Success: "#2e7d32",
    Failed: "#c62828",
    Skipped: "#9e9e9e",
    PendingApproval: "#f9a825"
  };
  var chart = null;

  function drawChart() {
    var canvas = document.getElementById("executions-chart");
    if (!canvas || typeof Chart === "undefined") {
      return;
    }
    var data = JSON.parse(canvas.dataset.chart);
    var datasets = Object.keys(data.series).map(function (status) {
      return {
        label: status,
        data: data.series[status],
        backgroundColor: COLORS[status] || "#607d8b",
        stack: "executions"
      };
    });
    if (chart && chart.canvas === canvas) {
      chart.data.labels = data.hours;
      chart.data.datasets.forEach(function (set, i) { set.data = datasets[i].data; });
      chart.update("none");
      return;
    }
    if (chart) {
      chart.destroy();
    }
    chart = new Chart(canvas, {
      type: "bar",
      data: { labels: data.hours, datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          x: { stacked: true, ticks: { maxTicksLimit: 12 } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }
        },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  function refresh() {
    var live = document.getElementById("live");
    if (!live || document.hidden) {
      return;
    }
    fetch(live.dataset.liveUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) {
        if (answer.status === 401) {
          window.location.assign("/dashboard/sign-in");
          return null;
        }
        return answer.ok || answer.status === 400 ? answer.text() : null;
      })
      .then(function (html) {
        if (html === null || html === undefined) {
          return;
        }
        // Keep the old canvas when only its numbers change, so the chart does not flicker.
        var canvas = document.getElementById("executions-chart");
        live.innerHTML = html;
        var fresh = document.getElementById("executions-chart");
        if (canvas && fresh && chart) {
          canvas.dataset.chart = fresh.dataset.chart;
          fresh.replaceWith(canvas);
        }
        drawChart();
        var updated = document.getElementById("updated");
        if (updated) {
          var count = Number(updated.dataset.refreshes || "0") + 1;
          updated.dataset.refreshes = String(count);
          updated.textContent = "Live: updated " + new Date().toLocaleTimeString();
        }
      })
      .catch(function () { /* the server is away for a moment: the next poll tries again */ });
  }

  // An action that places orders asks first (data-confirm on its form).
  document.addEventListener("submit", function (event) {
    var asked = event.target.dataset ? event.target.dataset.confirm : null;
    if (asked && !window.confirm(asked)) {
      event.preventDefault();
    }
  });

  drawChart();
  var every = Number(document.body.dataset.pollMs || "5000");
  if (document.getElementById("live")) {
    window.setInterval(refresh, every);
  }
})();
