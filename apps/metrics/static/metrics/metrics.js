/* TinyForge metrics panels: one chart with CPU % (left axis) and memory in MiB (right axis),
 * deploy markers on the time axis, a window selector and a refresh while the page is open.
 *
 * Markup comes from templates/metrics/panel.html; every label is in its JSON script element,
 * already translated. The panel's data-state ("loading", "ready", "empty", "error") and
 * data-points / data-markers tell tests what was drawn.
 */
(function () {
  "use strict";

  var WINDOW_SECONDS = {"30m": 1800, "2h": 7200, "6h": 21600, "24h": 86400, "7d": 604800};
  var MIB = 1024 * 1024;
  var TIME_STEPS = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  var STATUS_COLOURS = {
    succeeded: "#2e7d32", failed: "#c62828", interrupted: "#ef6c00",
    running: "#1565c0", queued: "#6a1b9a"
  };

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  /* Numbers in the page's language (decimal comma in ru), as the server formats its own. */
  var LANG = document.documentElement.lang || undefined;
  function decimal(value, digits) {
    return new Intl.NumberFormat(LANG, {minimumFractionDigits: digits,
                                        maximumFractionDigits: digits}).format(value);
  }
  function percent(value) {
    return new Intl.NumberFormat(LANG, {style: "percent", minimumFractionDigits: 1,
                                        maximumFractionDigits: 1}).format(value / 100);
  }

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name);
    return value && value.trim() ? value.trim() : fallback;
  }

  function timeLabel(seconds, windowSeconds) {
    var lang = LANG;
    var options = windowSeconds > 86400
      ? {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"}
      : {hour: "2-digit", minute: "2-digit"};
    return new Intl.DateTimeFormat(lang, options).format(new Date(seconds * 1000));
  }

  /* A round time step giving about eight labels over the window (ticks land on its multiples). */
  function timeStep(windowSeconds) {
    for (var i = 0; i < TIME_STEPS.length; i++) {
      if (windowSeconds / TIME_STEPS[i] <= 8) { return TIME_STEPS[i]; }
    }
    return 86400;
  }

  /* Break the line where samples are missing instead of drawing across the gap. */
  function withGaps(points) {
    if (points.length < 3) { return points; }
    var steps = [];
    for (var i = 1; i < points.length; i++) { steps.push(points[i].x - points[i - 1].x); }
    steps.sort(function (a, b) { return a - b; });
    var usual = steps[Math.floor(steps.length / 2)];
    var out = [points[0]];
    for (var j = 1; j < points.length; j++) {
      if (points[j].x - points[j - 1].x > 2.5 * usual) {
        out.push({x: points[j - 1].x + usual, y: null});
      }
      out.push(points[j]);
    }
    return out;
  }

  /* Vertical lines under the deploy markers, coloured by status. */
  var markerLines = {
    id: "tfDeployLines",
    beforeDatasetsDraw: function (chart) {
      var dataset = chart.data.datasets[2];
      if (!dataset || !dataset.data.length) { return; }
      var area = chart.chartArea, x = chart.scales.x, ctx = chart.ctx;
      ctx.save();
      ctx.setLineDash([4, 4]);
      ctx.lineWidth = 1;
      dataset.data.forEach(function (marker) {
        var px = x.getPixelForValue(marker.x);
        if (px < area.left || px > area.right) { return; }
        ctx.strokeStyle = STATUS_COLOURS[marker.status] || "#777";
        ctx.beginPath();
        ctx.moveTo(px, area.top);
        ctx.lineTo(px, area.bottom);
        ctx.stroke();
      });
      ctx.restore();
    }
  };

  function Panel(element) {
    this.element = element;
    this.labels = JSON.parse(element.querySelector("script[type='application/json']").textContent);
    this.select = element.querySelector(".tf-metrics-window");
    this.canvasBox = element.querySelector(".tf-metrics-chart");
    this.empty = element.querySelector(".tf-metrics-empty");
    this.status = element.querySelector(".tf-metrics-status");
    this.top = element.querySelector(".tf-metrics-top");
    this.chart = null;
    this.select.addEventListener("change", this.load.bind(this));
    this.load();
    var refresh = parseInt(element.dataset.refreshMs, 10) || 15000;
    setInterval(function () {
      if (!document.hidden) { this.load(); }
    }.bind(this), refresh);
  }

  Panel.prototype.url = function (base) {
    return base + (base.indexOf("?") < 0 ? "?" : "&") + "window=" + encodeURIComponent(this.select.value);
  };

  Panel.prototype.fetchJson = function (base) {
    if (!base) { return Promise.resolve([]); }
    return fetch(this.url(base), {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      });
  };

  Panel.prototype.load = function () {
    var data = this.element.dataset;
    var requests = [this.fetchJson(data.historyUrl), this.fetchJson(data.markersUrl),
                    data.topUrl ? this.fetchJson(data.topUrl) : Promise.resolve(null)];
    Promise.all(requests).then(function (results) {
      this.draw(results[0], results[1]);
      if (this.top) { this.drawTop(results[2]); }
      this.status.textContent = format(this.labels.updated, {time: timeLabel(Date.now() / 1000, 0)});
    }.bind(this)).catch(function () {
      this.element.dataset.state = "error";
      this.status.textContent = this.labels.loadError;
    }.bind(this));
  };

  Panel.prototype.series = function (points, markers) {
    var cpu = withGaps(points.map(function (p) { return {x: p.ts, y: p.cpu_percent}; }));
    var memory = withGaps(points.map(function (p) {
      return {x: p.ts, y: Math.round(p.memory_usage / MIB * 10) / 10};
    }));
    var deploys = markers.map(function (m) {
      return {x: m.ts, y: 0, id: m.id, status: m.status, version: m.version};
    });
    return {cpu: cpu, memory: memory, deploys: deploys};
  };

  Panel.prototype.draw = function (points, markers) {
    var windowSeconds = WINDOW_SECONDS[this.select.value] || 7200;
    var now = Date.now() / 1000;
    var series = this.series(points, markers);
    this.element.dataset.points = String(points.length);
    this.element.dataset.markers = String(series.deploys.length);
    this.empty.hidden = points.length > 0;
    this.canvasBox.hidden = points.length === 0;
    this.element.dataset.state = points.length ? "ready" : "empty";
    if (!points.length) { return; }
    if (!this.chart) { this.chart = this.create(); }
    var chart = this.chart;
    chart.data.datasets[0].data = series.cpu;
    chart.data.datasets[1].data = series.memory;
    chart.data.datasets[2].data = series.deploys;
    chart.data.datasets[2].pointBackgroundColor = series.deploys.map(function (m) {
      return STATUS_COLOURS[m.status] || "#777";
    });
    chart.options.scales.x.min = now - windowSeconds;
    chart.options.scales.x.max = now;
    chart.options.scales.x.ticks.stepSize = timeStep(windowSeconds);
    chart.options.scales.x.ticks.callback = function (value) {
      return timeLabel(value, windowSeconds);
    };
    chart.update("none");
  };

  Panel.prototype.create = function () {
    var labels = this.labels;
    var text = cssVar("--body-quiet-color", "#666");
    var grid = cssVar("--hairline-color", "#e8e8e8");
    var canvas = this.element.querySelector("canvas");
    return new window.Chart(canvas, {
      type: "line",
      data: {datasets: [
        {label: labels.cpu, data: [], yAxisID: "cpu", borderColor: "#417690",
         backgroundColor: "rgba(65,118,144,0.15)", fill: true, pointRadius: 0, borderWidth: 1.5,
         spanGaps: false, tension: 0.2},
        {label: labels.memory, data: [], yAxisID: "memory", borderColor: "#b35c00",
         pointRadius: 0, borderWidth: 1.5, spanGaps: false, tension: 0.2},
        {label: labels.deploys, type: "scatter", data: [], yAxisID: "cpu", pointStyle: "triangle",
         pointRadius: 7, pointHoverRadius: 9, borderColor: "#fff", borderWidth: 1}
      ]},
      options: {
        animation: false,
        locale: LANG,  // axis ticks and tooltip values through Intl.NumberFormat(lang)
        maintainAspectRatio: false,
        parsing: true,
        interaction: {mode: "nearest", intersect: false},
        scales: {
          x: {type: "linear", ticks: {color: text, maxRotation: 0, autoSkipPadding: 16,
                                      includeBounds: false},
              grid: {color: grid}},
          cpu: {type: "linear", position: "left", beginAtZero: true,
                title: {display: true, text: labels.cpu, color: text},
                ticks: {color: text}, grid: {color: grid}},
          memory: {type: "linear", position: "right", beginAtZero: true,
                   title: {display: true, text: labels.memory, color: text},
                   ticks: {color: text}, grid: {drawOnChartArea: false}}
        },
        plugins: {
          legend: {labels: {color: text, usePointStyle: true, filter: function (item, data) {
            return item.datasetIndex !== 2 || data.datasets[2].data.length > 0;
          }}},
          tooltip: {callbacks: {
            title: function (items) {
              return items.length ? timeLabel(items[0].parsed.x, 0) : "";
            },
            label: function (item) {
              if (item.datasetIndex !== 2) {
                return item.dataset.label + ": " + item.formattedValue;
              }
              var marker = item.raw;
              var status = labels.statuses[marker.status] || marker.status;
              var version = marker.version
                ? format(labels.version, {version: marker.version}) : labels.noVersion;
              return format(labels.deploy, {id: marker.id, status: status}) + " · " + version;
            }
          }}
        }
      },
      plugins: [markerLines]
    });
  };

  Panel.prototype.drawTop = function (top) {
    var labels = this.labels, box = this.top, linkTemplate = this.element.dataset.workloadUrl;
    box.textContent = "";
    if (!top || (!top.cpu.length && !top.memory.length)) {
      var none = document.createElement("p");
      none.className = "help";
      none.textContent = labels.emptyTop;
      box.appendChild(none);
      return;
    }
    [[labels.topCpu, top.cpu, function (w) { return percent(w.cpu_percent); }],
     [labels.topMemory, top.memory, function (w) {
       return decimal(w.memory_usage / MIB, 1) + "\u00a0" + labels.mib;
     }]].forEach(function (part) {
      var table = document.createElement("table");
      var caption = table.createCaption();
      caption.textContent = part[0];
      part[1].forEach(function (w) {
        var row = table.insertRow();
        var link = document.createElement("a");
        link.href = linkTemplate.replace("{id}", w.id);
        link.textContent = w.name;
        row.insertCell().appendChild(link);
        row.insertCell().textContent = part[2](w);
      });
      box.appendChild(table);
    });
  };

  function start() {
    if (!window.Chart) { return; }
    document.querySelectorAll("[data-metrics-panel]").forEach(function (element) {
      element.tfPanel = new Panel(element);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
