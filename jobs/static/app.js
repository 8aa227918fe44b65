// The tagstream live page: polls /api/state and /api/events and draws everything as SVG.
// No libraries: the charts are small enough to draw by hand, and the page must work offline.
"use strict";

const POLL_MS = 1000;
const MAX_EVENTS = 500;
const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
const QUALITY = ["subset_accuracy", "example_f1", "hamming_loss"];

// events: the learners' own events; alerts: the drift monitor's. Both come from /api/events, told apart by source.
const view = { state: null, events: [], alerts: [], lastEventId: 0, selected: null, heatLearner: null, polls: 0 };

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, content, attrs) {
  const node = el("text", Object.assign({ x, y }, attrs || {}), parent);
  node.textContent = content;
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function size(svg) {
  const box = svg.getBoundingClientRect();
  const width = Math.max(200, Math.round(box.width));
  const height = Math.max(80, Math.round(box.height));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  return [width, height];
}

function formatNumber(value, digits) {
  if (value === null || value === undefined) return "–";
  if (digits !== undefined) return value.toFixed(digits);
  return Math.round(value).toLocaleString("en-US");
}

function learnerColor(name) {
  const index = view.state ? view.state.learners.indexOf(name) : 0;
  return PALETTE[(index < 0 ? 0 : index) % PALETTE.length];
}

// A line chart of several series over the records taken in; yRange fixes the axis (scores), else it fits the data.
function lineChart(svg, series, yRange, xMax) {
  clear(svg);
  const [width, height] = size(svg);
  const pad = { left: 42, right: 8, top: 8, bottom: 18 };
  const all = series.flatMap((s) => s.points.map((p) => p[1]));
  let [yMin, yMax] = yRange || [0, Math.max(1, ...all) * 1.1];
  const xScale = (x) => pad.left + (x / Math.max(xMax, 1e-9)) * (width - pad.left - pad.right);
  const yScale = (y) => height - pad.bottom - ((y - yMin) / (yMax - yMin)) * (height - pad.top - pad.bottom);
  const grid = el("g", { class: "grid" }, svg);
  for (let i = 0; i <= 4; i++) {
    const y = yMin + ((yMax - yMin) * i) / 4;
    el("line", { x1: pad.left, x2: width - pad.right, y1: yScale(y), y2: yScale(y) }, grid);
    text(svg, pad.left - 4, yScale(y) + 3, yMax >= 100 ? formatNumber(y) : y.toFixed(2), { "text-anchor": "end" });
  }
  text(svg, pad.left, height - 4, "0");
  text(svg, width - pad.right, height - 4, `${formatNumber(xMax)} records`, { "text-anchor": "end" });
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${xScale(p[0]).toFixed(1)},${yScale(p[1]).toFixed(1)}`).join("");
    el("path", { d, fill: "none", stroke: s.color, "stroke-width": 1.8, class: "series", "data-name": s.name }, svg);
  }
}

function renderTiles(state) {
  const totals = state.totals;
  const dead = Object.values(totals.dead_letters || {}).reduce((a, b) => a + b, 0);
  // Drifts the monitor confirmed; its warnings and the learners' own events are on the timeline.
  const alerts = Object.entries(totals.drift_alerts || {});
  const drift = alerts.filter(([key]) => key.startsWith("drift/")).reduce((a, [, n]) => a + n, 0);
  document.getElementById("tile-records").textContent = formatNumber(totals.records_in || 0);
  document.getElementById("tile-rate").textContent = formatNumber(totals.records_per_s);
  document.getElementById("tile-predictions").textContent = formatNumber(totals.predictions_out || 0);
  document.getElementById("tile-lag").textContent = formatNumber(totals.lag);
  document.getElementById("tile-dead").textContent = formatNumber(dead);
  document.getElementById("tile-drift").textContent = formatNumber(drift);
  document.getElementById("tile-drift").title = alerts.map(([key, n]) => `${key}: ${n}`).join("\n");
  const reasons = Object.entries(totals.dead_letters || {}).map(([r, n]) => `${r}: ${n}`).join(", ");
  document.getElementById("dead-reasons").textContent = reasons ? `by reason: ${reasons}` : "";
}

// The x-axis of every chart and of the timeline: records taken in, so a marker sits where its records are.
function recordsMax(state) {
  return Math.max(state.totals.records_in || 0, 1);
}

function renderQuality(state) {
  const xMax = recordsMax(state);
  const legend = document.getElementById("legend");
  clear(legend);
  for (const name of state.learners) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = learnerColor(name);
    item.appendChild(swatch);
    const scores = state.window[name] || {};
    const f1 = scores.example_f1 === undefined ? "" : ` (example-F1 ${scores.example_f1.toFixed(3)})`;
    item.appendChild(document.createTextNode(name + f1));
    legend.appendChild(item);
  }
  for (const score of QUALITY) {
    const series = state.learners.map((name) => ({
      name,
      color: learnerColor(name),
      points: state.points.filter((p) => p.learners[name] && p.learners[name][score] !== undefined).map((p) => [p.records, p.learners[name][score]]),
    }));
    lineChart(document.getElementById(`chart-${score}`), series, [0, 1], xMax);
  }
  const points = state.points;
  const rate = [{ name: "records/s", color: PALETTE[0], points: points.map((p) => [p.records, p.records_per_s]) }];
  const lag = [{ name: "lag", color: PALETTE[4], points: points.filter((p) => p.lag !== null).map((p) => [p.records, p.lag]) }];
  const dead = [{ name: "dead letters", color: PALETTE[1], points: points.map((p) => [p.records, p.dead_letters]) }];
  lineChart(document.getElementById("chart-rate"), rate, null, xMax);
  lineChart(document.getElementById("chart-lag"), lag, null, xMax);
  lineChart(document.getElementById("chart-dead"), dead, null, xMax);
}

// Tidy enough for label trees: leaves side by side, each parent centred over its children.
function layoutTree(root) {
  const nodes = [];
  let nextLeaf = 0;
  function visit(node, depth) {
    const children = node.children || [];
    const placed = { node, depth, children: children.map((child) => visit(child, depth + 1)) };
    placed.x = placed.children.length
      ? (placed.children[0].x + placed.children[placed.children.length - 1].x) / 2
      : nextLeaf++;
    nodes.push(placed);
    return placed;
  }
  visit(root, 0);
  return { nodes, leaves: nextLeaf, depth: Math.max(...nodes.map((n) => n.depth)) + 1 };
}

function renderTree(state) {
  const svg = document.getElementById("tree");
  const caption = document.getElementById("tree-caption");
  const partitionBox = document.getElementById("partition");
  clear(svg);
  clear(partitionBox);
  const learner = state.learners.find((name) => state.partitions[name]);
  if (!learner) {
    caption.textContent = "no learner of this run partitions its labels (iHOMER does)";
    svg.setAttribute("width", 10);
    svg.setAttribute("height", 10);
    return;
  }
  const snapshot = state.partitions[learner];
  caption.textContent =
    `${learner}: ${snapshot.partition.length} clusters of ${snapshot.labels} labels ` +
    `at instance ${snapshot.instances}, base learner ${snapshot.base_learner || "?"}`;
  if (!snapshot.tree) return;
  const homes = {};
  for (const group of snapshot.partition) (homes[group.home] = homes[group.home] || []).push(group);
  const { nodes, leaves, depth } = layoutTree(snapshot.tree);
  const boxW = 100, boxH = 36, gapX = 10, gapY = 26;
  const width = leaves * (boxW + gapX) + gapX;
  const height = depth * (boxH + gapY) + gapY;
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const cx = (n) => gapX + n.x * (boxW + gapX) + boxW / 2;
  const cy = (n) => gapY / 2 + n.depth * (boxH + gapY);
  for (const n of nodes) {
    for (const child of n.children) {
      const midY = (cy(n) + boxH + cy(child)) / 2;
      el("path", { d: `M${cx(n)},${cy(n) + boxH} C${cx(n)},${midY} ${cx(child)},${midY} ${cx(child)},${cy(child)}` }, svg);
    }
  }
  for (const n of nodes) {
    const groups = homes[n.node.id] || [];
    const g = el("g", { class: "node" + (n.node.active ? " active" : "") + (groups.length ? " home" : ""), "data-id": n.node.id }, svg);
    el("rect", { x: cx(n) - boxW / 2, y: cy(n), width: boxW, height: boxH, rx: 4 }, g);
    text(g, cx(n), cy(n) + 14, `${n.node.id} · ${n.node.labels.length} labels`, { "text-anchor": "middle" });
    const shown = n.node.labels.slice(0, 3).join(", ") + (n.node.labels.length > 3 ? ", …" : "");
    text(g, cx(n), cy(n) + 28, groups.length ? groups.map((gr) => gr.id).join(", ") : shown, { "text-anchor": "middle" });
    const title = el("title", {}, g);
    title.textContent = `${n.node.id}: ${n.node.labels.join(", ")}`;
  }
  for (const group of snapshot.partition) {
    const chip = document.createElement("span");
    chip.textContent = `${group.id} (${group.size}): ${group.labels.slice(0, 6).join(", ")}${group.size > 6 ? ", …" : ""}`;
    partitionBox.appendChild(chip);
  }
}

function heatColor(value) {
  if (value === null || value === undefined) return "#eceef1";
  // red (0) -> amber (0.5) -> green (1)
  const hue = Math.round(value * 120);
  return `hsl(${hue}, 65%, 48%)`;
}

function renderHeatmap(state) {
  const select = document.getElementById("heat-learner");
  if (select.options.length !== state.learners.length) {
    clear(select);
    for (const name of state.learners) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      select.appendChild(option);
    }
  }
  view.heatLearner = view.heatLearner || state.learners[0];
  select.value = view.heatLearner;
  const heat = state.heatmap[view.heatLearner];
  const svg = document.getElementById("heatmap");
  clear(svg);
  const labelWidth = 90, cellH = 18, top = 4, bottom = 18;
  const columns = heat.t.length;
  const cellW = Math.max(3, Math.min(24, 600 / Math.max(columns, 1)));
  const width = labelWidth + columns * cellW + 10;
  const height = top + heat.labels.length * cellH + bottom;
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  heat.labels.forEach((label, row) => {
    text(svg, labelWidth - 6, top + row * cellH + 13, label, { "text-anchor": "end" });
    heat.f1[row].forEach((value, column) => {
      const cell = el("rect", {
        x: labelWidth + column * cellW, y: top + row * cellH, width: cellW, height: cellH - 1,
        fill: heatColor(value), class: "cell",
      }, svg);
      const title = el("title", {}, cell);
      title.textContent = `${label} at ${heat.t[column].toFixed(1)} s: F1 ${value === null ? "n/a" : value.toFixed(3)}`;
    });
  });
  if (columns) {
    text(svg, labelWidth, height - 4, `${heat.t[0].toFixed(0)} s`);
    text(svg, labelWidth + columns * cellW, height - 4, `${heat.t[columns - 1].toFixed(0)} s`, { "text-anchor": "end" });
  } else {
    text(svg, labelWidth, top + 13, "waiting for labelled records");
  }
}

function render() {
  const state = view.state;
  document.getElementById("title").textContent = state.title;
  const status = document.getElementById("status");
  status.textContent = state.status;
  status.className = `status ${state.status}`;
  document.getElementById("updated").textContent = `up ${state.uptime_s.toFixed(0)} s · ${state.totals.batches || 0} batches`;
  renderTiles(state);
  renderQuality(state);
  renderTimeline(state);
  renderTree(state);
  renderHeatmap(state);
  document.body.dataset.polls = String(view.polls);
}

async function fetchJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function poll() {
  let state;
  try {
    state = await fetchJson("/api/state");
    if (state.last_event_id > view.lastEventId) {
      const fresh = await fetchJson(`/api/events?since=${view.lastEventId}`);
      view.events = view.events.concat(fresh.filter((e) => e.source !== "monitor")).slice(-MAX_EVENTS);
      view.alerts = view.alerts.concat(fresh.filter((e) => e.source === "monitor")).slice(-MAX_EVENTS);
      if (fresh.length) view.lastEventId = fresh[fresh.length - 1].id;
    }
  } catch (error) {
    // The run may have ended and taken the server with it: say so and keep trying.
    const status = document.getElementById("status");
    status.textContent = "no connection";
    status.className = "status error";
    setTimeout(poll, POLL_MS * 3);
    return;
  }
  view.state = state;
  view.polls += 1;
  // Only a finished run stops the polling; a drawing error surfaces in the console and stops it too.
  render();
  if (state.status !== "finished") setTimeout(poll, POLL_MS);
}

document.getElementById("heat-learner").addEventListener("change", (e) => {
  view.heatLearner = e.target.value;
  if (view.state) renderHeatmap(view.state);
});
window.addEventListener("resize", () => view.state && render());
poll();
