// The live page's timeline: the drift monitor's alerts and the learners' own events over the records,
// the list of the latest alerts and the detail of the one selected. Loaded before app.js, whose
// helpers (el, text, clear, size, formatNumber, recordsMax) and view it uses when called.
"use strict";

const EVENT_COLORS = { drift: "#d62728", warning: "#ff7f0e", partition: "#1f77b4", other: "#7f7f7f" };
const PARTITION_KINDS = new Set(["split", "merge", "restructure"]);
// The drift monitor's alerts (tagstream.drift) are diamonds coloured by kind, solid for a drift and
// pale for a warning, larger the more severe; the learners' own events (tagstream.model-events) are circles.
const ALERT_COLORS = {
  concept: "#d62728", prior: "#9467bd", feature: "#8c564b", label_born: "#2ca02c", label_dormant: "#7f7f7f", label_revived: "#17becf",
};
const ALERT_SIZES = { low: 5, medium: 6.5, high: 8 };
const ALERTS_LISTED = 30;

// The timeline row of a learner's event or a monitor alert.
function eventRow(event) {
  if (event.source === "monitor") return `monitor ${event.level}`;
  if (PARTITION_KINDS.has(event.kind)) return "learner partition";
  if (event.kind === "drift" || event.kind === "warning") return `learner ${event.kind}`;
  return "learner other";
}

// Where a record sits in the stream: topic, partition and offset when it came from Kafka, else its index.
function position(where) {
  if (where.offset === null || where.offset === undefined) return `#${where.index}`;
  return `${where.topic ? where.topic + ":" : ""}p${where.partition}:o${where.offset}`;
}

// A window of records: "topic:p0:o100 – o350" when both ends are in one partition.
function span(window) {
  const first = window.first, last = window.last;
  if (first.offset !== null && first.topic === last.topic && first.partition === last.partition) return `${position(first)} – o${last.offset}`;
  return `${position(first)} – ${position(last)}`;
}

function labelList(labels, most) {
  if (!labels || !labels.length) return "(none)";
  return labels.slice(0, most).join(", ") + (labels.length > most ? `, … (${labels.length})` : "");
}

function alertSummary(alert) {
  return `${alert.level} ${alert.kind} (${alert.severity}): ${labelList(alert.labels, 8)}` +
    ` · record ${formatNumber(alert.records)} · ${span(alert.window)}`;
}

const TIMELINE_ROWS = ["monitor drift", "monitor warning", "learner drift", "learner warning", "learner partition", "learner other"];

function legendItem(legend, color, content, pale) {
  const item = document.createElement("span");
  const swatch = document.createElement("i");
  swatch.style.background = color;
  if (pale) swatch.style.opacity = "0.35";
  item.appendChild(swatch);
  item.appendChild(document.createTextNode(content));
  legend.appendChild(item);
}

function renderLegend() {
  const legend = document.getElementById("event-legend");
  clear(legend);
  const kinds = {};
  for (const alert of view.alerts) kinds[alert.kind] = (kinds[alert.kind] || 0) + 1;
  const head = document.createElement("b");
  head.textContent = "monitor alerts:";
  legend.appendChild(head);
  for (const [kind, color] of Object.entries(ALERT_COLORS)) legendItem(legend, color, `${kind} (${kinds[kind] || 0})`);
  legendItem(legend, "#6b7585", "pale: warning", true);
  const rows = {};
  for (const event of view.events) rows[eventRow(event)] = (rows[eventRow(event)] || 0) + 1;
  const second = document.createElement("b");
  second.textContent = "learner events:";
  legend.appendChild(second);
  for (const category of ["drift", "warning", "partition", "other"]) {
    legendItem(legend, EVENT_COLORS[category], `${category} (${rows[`learner ${category}`] || 0})`);
  }
}

function renderTimeline(state) {
  const svg = document.getElementById("timeline");
  clear(svg);
  const [width, height] = size(svg);
  const rows = TIMELINE_ROWS;
  const pad = { left: 100, right: 10, top: 6, bottom: 16 };
  const rowHeight = (height - pad.top - pad.bottom) / rows.length;
  const xMax = recordsMax(state);
  const xScale = (records) => pad.left + (Math.min(records, xMax) / xMax) * (width - pad.left - pad.right);
  const rowY = (event) => pad.top + rowHeight * (rows.indexOf(eventRow(event)) + 0.5);
  rows.forEach((row, i) => {
    const y = pad.top + rowHeight * (i + 0.5);
    el("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, stroke: "#e3e6eb" }, svg);
    text(svg, pad.left - 6, y + 3, row, { "text-anchor": "end" });
  });
  text(svg, pad.left, height - 3, "0");
  text(svg, width - pad.right, height - 3, `${formatNumber(xMax)} records`, { "text-anchor": "end" });
  renderLegend();
  for (const event of view.events) {
    const category = eventRow(event).replace("learner ", "");
    const y = rowY(event) + (event.level === "local" ? 3 : -3);
    const marker = el(
      "circle",
      {
        cx: xScale(event.records).toFixed(1), cy: y.toFixed(1), r: 4.5, fill: EVENT_COLORS[category],
        class: "event" + (view.selected === event.id ? " selected" : ""),
        "data-id": event.id, "data-source": "model", "data-kind": event.kind, "data-level": event.level,
        "data-instance": event.instance, "data-records": event.records,
      },
      svg,
    );
    const title = el("title", {}, marker);
    title.textContent = `${event.learner} ${event.level} ${event.kind} at instance ${event.instance}`;
    marker.addEventListener("click", () => selectEvent(event.id));
  }
  for (const alert of view.alerts) {
    const x = xScale(alert.records), y = rowY(alert), r = ALERT_SIZES[alert.severity] || 5;
    const color = ALERT_COLORS[alert.kind] || EVENT_COLORS.other;
      const marker = el(
      "path",
      {
        d: `M${x.toFixed(1)},${(y - r).toFixed(1)} l${r},${r} l${-r},${r} l${-r},${-r}Z`,
        fill: color, "fill-opacity": alert.level === "warning" ? 0.35 : 1,
        class: "event alert" + (view.selected === alert.id ? " selected" : ""),
        "data-id": alert.id, "data-source": "monitor", "data-kind": alert.kind, "data-level": alert.level,
        "data-severity": alert.severity, "data-labels": alert.labels.join(","), "data-records": alert.records,
        "data-offset": alert.window.last.offset === null ? "" : alert.window.last.offset, "data-event-id": alert.event_id,
      },
      svg,
    );
    const title = el("title", {}, marker);
    title.textContent = alertSummary(alert);
    marker.addEventListener("click", () => selectEvent(alert.id));
  }
  renderAlertList();
}

// The monitor's latest alerts, newest first: what changed, how much, where, and which labels.
function renderAlertList() {
  const body = document.querySelector("#alert-list tbody");
  clear(body);
  document.getElementById("alert-list-empty").hidden = view.alerts.length > 0;
  for (const alert of view.alerts.slice(-ALERTS_LISTED).reverse()) {
    const row = document.createElement("tr");
    row.className = `alert-row ${alert.level}` + (view.selected === alert.id ? " selected" : "");
    row.dataset.id = alert.id;
    const cells = [
      formatNumber(alert.records), alert.level, alert.kind, alert.severity, labelList(alert.labels, 8),
      alert.learner || "–", span(alert.window), alert.event_id,
    ];
    for (const value of cells) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.appendChild(cell);
    }
    row.addEventListener("click", () => selectEvent(alert.id));
    body.appendChild(row);
  }
}

function detailLine(box, className, content) {
  const line = document.createElement("div");
  line.className = className;
  line.textContent = content;
  box.appendChild(line);
}

function selectEvent(id) {
  view.selected = id;
  const event = view.events.find((e) => e.id === id) || view.alerts.find((e) => e.id === id);
  const box = document.getElementById("event-detail");
  clear(box);
  box.classList.remove("muted");
  if (!event) {
    box.textContent = "That event is no longer kept.";
    return;
  }
  let shown;
  if (event.source === "monitor") {
    const first = event.window.first, last = event.window.last;
    detailLine(box, "event-head",
      `monitor: ${event.level} ${event.kind}, severity ${event.severity}, at record ${formatNumber(event.records)}` +
      (event.learner ? `, learner ${event.learner}` : ""));
    detailLine(box, "event-labels", "labels: " + labelList(event.labels, 50));
    if (event.clusters.length) detailLine(box, "event-clusters", "clusters: " + event.clusters.join(", "));
    detailLine(box, "event-window",
      `window: ${span(event.window)}` +
      (first.record_id ? `, records ${first.record_id} – ${last.record_id}` : ""));
    detailLine(box, "event-detector", `detector ${event.detector}, event id ${event.event_id}`);
    shown = { statistic: event.statistic, model_version: event.model_version, detail: event.detail, window: event.window };
  } else {
    detailLine(box, "event-head",
      `${event.learner}: ${event.level} ${event.kind} at instance ${event.instance} ` +
      `(record ${event.records}, ${event.t.toFixed(1)} s)` + (event.node ? `, node ${event.node}` : ""));
    detailLine(box, "event-labels", "labels: " + labelList(event.labels, 50));
    shown = event.detail || {};
  }
  const detail = document.createElement("pre");
  detail.className = "event-json";
  detail.textContent = JSON.stringify(shown, null, 2);
  box.appendChild(detail);
  for (const marker of document.querySelectorAll("#timeline .event, #alert-list tr.alert-row")) {
    marker.classList.toggle("selected", Number(marker.getAttribute("data-id")) === id);
  }
}
