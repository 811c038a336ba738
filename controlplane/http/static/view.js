// The /view dashboard: one document pushed by the control plane (GET /api/v1/events: a snapshot, then patches),
// rendered incrementally: only the rows of works that changed are touched, the state tree is rebuilt at most a few
// times a second and only for the nodes that are open. Logs of the selected work stream from /api/v1/logs.
"use strict";

const MAX_LOG_LINES = 2000;
const STATE_RENDER_INTERVAL_MS = 300;
const $ = (id) => document.getElementById(id);

let doc = null;
let seq = 0;
let events = null;
let selectedWork = null;
let logStream = null;
const rows = new Map();           // work name -> <tr>
const openPaths = new Set([""]);  // state tree nodes shown open
let stateTimer = null;
let stateDirty = false;
let activeTab = "overview";
const frames = new Map();         // tab key -> iframe / panel

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;  // CSSOM: allowed by the page's CSP, unlike the attribute
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

// -- the pushed document ---------------------------------------------------------------------------------------

function connect() {
  events = new EventSource("/api/v1/events");
  events.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    doc = data.doc; seq = data.seq;
    setConnection("live");
    renderAll();
  });
  events.addEventListener("patch", (e) => {
    const data = JSON.parse(e.data);
    if (!doc) return;
    seq = data.seq;
    applyOps(data.ops);
  });
  events.addEventListener("ended", (e) => {
    const data = JSON.parse(e.data);
    events.close();
    showEnded(data.exit_code, data.message);
  });
  events.onerror = () => { if (events.readyState !== EventSource.CLOSED) setConnection("lost"); };
  events.onopen = () => setConnection("live");
}

function applyOps(ops) {
  const touched = { works: new Set(), all: false, agents: false, state: false, layout: false, app: false };
  for (const [path, ...value] of ops) {
    let node = doc;
    for (const key of path.slice(0, -1)) node = node[key];
    const last = path[path.length - 1];
    if (value.length === 0) delete node[last]; else node[last] = value[0];
    const top = path[0];
    if (top === "works") { if (path.length > 1) touched.works.add(path[1]); else touched.all = true; }
    else if (top in touched) touched[top] = true;
  }
  if (touched.app) renderApp();
  if (touched.all) renderWorks(); else for (const name of touched.works) renderWork(name);
  if (touched.agents) renderAgents();
  if (touched.layout || touched.layout_error) renderTabs();
  if (touched.state) scheduleState();
}

function renderAll() {
  renderApp(); renderWorks(); renderAgents(); renderTabs(); scheduleState();
}

function setConnection(state) {
  const node = $("connection");
  node.className = "connection " + state;
  node.title = state === "live" ? "live updates" : "reconnecting…";
}

// -- the app ---------------------------------------------------------------------------------------------------

function renderApp() {
  const app = doc.app;
  $("app-name").textContent = app.path.split("/").pop();
  const stage = $("stage");
  stage.textContent = app.stage;
  stage.className = "badge s-" + app.stage;
  document.title = `${app.path.split("/").pop()} · ${app.stage} · lightning-ctl`;
}

function showEnded(exitCode, message) {
  const banner = $("ended");
  banner.hidden = false;
  banner.className = exitCode === 0 ? "banner" : "banner failed";
  banner.textContent = `The app ended (exit status ${exitCode})${message ? ": " + message : ""}.`;
  $("stage").textContent = exitCode === 0 ? "stopped" : "failed";
  $("stage").className = "badge s-" + (exitCode === 0 ? "stopped" : "failed");
  $("stop").disabled = true;
  setConnection("");
  if (logStream) { logStream.close(); logStream = null; }
}

// -- works -----------------------------------------------------------------------------------------------------

function renderWorks() {
  const names = Object.keys(doc.works);
  for (const [name, row] of rows) if (!(name in doc.works)) { row.remove(); rows.delete(name); }
  for (const name of names) renderWork(name);
  $("work-count").textContent = `${names.length} work${names.length === 1 ? "" : "s"}`;
  $("no-works").hidden = names.length > 0;
  applyFilter();
}

function renderWork(name) {
  const work = doc.works[name];
  let row = rows.get(name);
  if (!work) { if (row) { row.remove(); rows.delete(name); } return; }
  if (!row) {
    row = el("tr", { "data-work": name });
    for (let i = 0; i < 7; i++) row.append(el("td"));
    row.addEventListener("click", () => selectWork(name));
    $("works").tBodies[0].append(row);
    rows.set(name, row);
    const cut = name.lastIndexOf(".");
    row.cells[0].replaceChildren(el("span", { class: "parent" }, name.slice(0, cut + 1)), el("b", {}, name.slice(cut + 1)));
  }
  const cells = row.cells;
  const stage = work.stage;
  if (cells[1].dataset.stage !== stage) {
    cells[1].dataset.stage = stage;
    cells[1].replaceChildren(el("span", { class: "badge s-" + stage, "data-testid": "work-stage" }, stage));
  }
  setText(cells[2], [work.reason, work.message].filter(Boolean).join(": "), "reason");
  setText(cells[3], work.agent || "");
  setText(cells[4], work.gpus.length ? work.gpus.join(",") : "");
  setText(cells[5], work.restarts ? String(work.restarts) : "0");
  const url = work.proxy_url || work.url || "";  // through this server: reachable wherever the work runs
  if (cells[6].dataset.url !== url) {
    cells[6].dataset.url = url;
    cells[6].replaceChildren(url ? el("a", { href: url, target: "_blank", rel: "noopener" }, "open") : "");
  }
  row.dataset.filter = (name + " " + stage).toLowerCase();
}

function setText(cell, text, cls) {
  if (cell.textContent !== text) { cell.textContent = text; cell.title = text; }
  if (cls) cell.className = cls;
}

function applyFilter() {
  const term = $("filter").value.trim().toLowerCase();
  for (const row of rows.values()) row.hidden = term !== "" && !row.dataset.filter.includes(term);
}

// -- logs ------------------------------------------------------------------------------------------------------

function selectWork(name) {
  selectedWork = name;
  for (const [key, row] of rows) row.classList.toggle("selected", key === name);
  $("log-work").textContent = name || "all works";
  followLogs();
}

function followLogs() {
  if (logStream) logStream.close();
  $("log").replaceChildren();
  const query = new URLSearchParams({ follow: "1", tail: "500" });
  if (selectedWork) query.append("work", selectedWork);
  logStream = new EventSource("/api/v1/logs?" + query);
  logStream.addEventListener("lines", (e) => appendLines(JSON.parse(e.data)));
}

function appendLines(batch) {
  const log = $("log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 20;
  const fragment = document.createDocumentFragment();
  if (batch.dropped) fragment.append(el("div", { class: "err" }, `… ${batch.dropped} lines not shown (too fast)`));
  for (const line of batch.lines) {
    const row = el("div", { class: line.stream === "stderr" ? "err" : "" });
    if (!selectedWork) row.append(el("span", { class: "w" }, line.work + " | "));
    row.append(line.text);
    fragment.append(row);
  }
  log.append(fragment);
  while (log.childElementCount > MAX_LOG_LINES) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

// -- agents ----------------------------------------------------------------------------------------------------

const GiB = 1024 ** 3;
function gib(bytes) { return bytes == null ? "–" : (bytes / GiB).toFixed(1) + " GiB"; }
function bar(fraction, text) {
  const width = Math.max(0, Math.min(100, fraction * 100));
  const outer = el("span", { class: "bar" }, el("span", { style: `width:${width}%` }));
  return [outer, text];
}

function renderAgents() {
  const body = $("agents").tBodies[0];
  const agents = Object.values(doc.agents);
  body.replaceChildren(...agents.map((a) => {
    const gpuUse = a.gpu_usage.map((g) => `#${g.index} ${g.utilization_percent.toFixed(0)}% ${gib(g.memory_used_bytes)}/${gib(g.memory_total_bytes)}`);
    const row = el("tr", {},
      el("td", {}, el("b", {}, a.name), a.local ? " (local)" : ""),
      el("td", {}, el("span", { class: "badge s-" + (a.state === "connected" ? "succeeded" : "pending") }, a.state)),
      el("td", {}, `${a.cpus_reserved} / ${a.cpus}`),
      el("td", {}, ...(a.cpu_percent == null ? ["–"] : bar(a.cpu_percent / 100, a.cpu_percent.toFixed(0) + "%"))),
      el("td", {}, `${gib(a.memory_reserved_bytes)} / ${gib(a.memory_bytes)}`),
      el("td", {}, ...(a.memory_used_bytes == null ? ["–"] : bar(a.memory_used_bytes / a.memory_bytes, gib(a.memory_used_bytes)))),
      el("td", {}, `${a.gpus_reserved.length} / ${a.gpus.length}`),
      el("td", {}, gpuUse.join(" · ") || "–"),
      el("td", {}, String(a.works.length)));
    return row;
  }));
}

// -- state tree ------------------------------------------------------------------------------------------------

function scheduleState() {
  stateDirty = true;
  if (stateTimer) return;
  stateTimer = setTimeout(() => { stateTimer = null; if (stateDirty) { stateDirty = false; renderState(); } }, STATE_RENDER_INTERVAL_MS);
}

function renderState() {
  const container = $("state");
  const scroll = container.scrollTop;
  container.replaceChildren(node("root", doc.state, ""));
  container.scrollTop = scroll;
  for (const tab of frames.values()) if (tab.flow) renderFlowTab(tab);
}

function node(key, value, path) {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const details = el("details", {});
    details.open = openPaths.has(path);
    const summary = el("summary", {}, el("span", { class: "k" }, key),
      el("span", { class: "count" }, Array.isArray(value) ? ` [${entries.length}]` : ` {${entries.length}}`));
    details.append(summary);
    const fill = () => { for (const [k, v] of entries) details.append(node(k, v, path + "/" + k)); };
    if (details.open) fill();
    details.addEventListener("toggle", () => {
      if (details.open) { openPaths.add(path); if (details.childElementCount === 1) fill(); }
      else openPaths.delete(path);
    });
    return details;
  }
  const cls = typeof value === "string" ? "str" : typeof value === "number" ? "num" : "lit";
  return el("div", { class: "leaf" }, el("span", { class: "k" }, key), ": ", el("span", { class: cls }, JSON.stringify(value)));
}

// -- layout tabs -----------------------------------------------------------------------------------------------

function tabKey(tab) { return `${tab.kind}:${tab.name}:${tab.target}`; }

function renderTabs() {
  const nav = $("tabs");
  const tabs = doc.layout || [];
  const keys = new Set(tabs.map(tabKey));
  nav.replaceChildren(nav.firstElementChild);
  for (const tab of tabs) {
    const button = el("button", { type: "button", class: "tab", "data-tab": tabKey(tab) }, tab.name);
    nav.append(button);
  }
  if (doc.layout_error) nav.append(el("span", { class: "count", title: doc.layout_error }, "⚠ layout error"));
  for (const [key, frame] of frames) if (!keys.has(key)) { frame.element.remove(); frames.delete(key); }
  if (activeTab !== "overview" && !keys.has(activeTab)) activeTab = "overview";
  showTab(activeTab);
}

function showTab(key) {
  activeTab = key;
  for (const button of $("tabs").querySelectorAll(".tab")) button.classList.toggle("active", button.dataset.tab === key);
  $("overview").hidden = key !== "overview";
  if (key !== "overview" && !frames.has(key)) {
    const tab = (doc.layout || []).find((t) => tabKey(t) === key);
    if (tab) frames.set(key, makeTab(tab));
  }
  for (const [k, frame] of frames) frame.element.hidden = k !== key;
}

function makeTab(tab) {
  let element;
  const entry = { tab };
  if (tab.kind === "flow") {
    element = el("div", { class: "flow-tab tree" });
    entry.flow = tab.target;
  } else if (tab.target) {
    element = el("iframe", { src: tab.target, title: tab.name });
  } else {
    element = el("p", { class: "flow-tab empty" }, `${tab.name}: no URL yet (the work has not published one).`);
  }
  entry.element = element;
  $("tab-frames").append(element);
  if (entry.flow) renderFlowTab(entry);
  return entry;
}

function renderFlowTab(entry) {
  let state = doc.state;
  for (const part of entry.flow.split(".").slice(1)) state = (state.flows || {})[part] || (state.structures || {})[part] || {};
  entry.element.replaceChildren(node(entry.flow, state, "tab:" + entry.flow));
}

// -- actions ---------------------------------------------------------------------------------------------------

async function stopApp() {
  $("stop").disabled = true;
  const response = await fetch("/api/v1/stop", { method: "POST" });
  if (!response.ok) {
    $("stop").disabled = false;
    alert(`Stop failed: ${response.status} ${await response.text()}`);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("tabs").addEventListener("click", (e) => { if (e.target.dataset.tab) showTab(e.target.dataset.tab); });
  $("filter").addEventListener("input", applyFilter);
  $("log-all").addEventListener("click", () => selectWork(null));
  $("stop").addEventListener("click", () => $("confirm-stop").showModal());
  $("confirm-stop").addEventListener("close", () => { if ($("confirm-stop").returnValue === "stop") stopApp(); });
  connect();
  followLogs();
});
