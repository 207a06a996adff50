// The run page: the workflow as a graph whose nodes follow the run's event stream
// (EventSource, resumed with Last-Event-ID), a timeline, and each step's details.
import { announce, api, can, clear, fmt, h, problemText, s, statusBadge, table } from "./app.js";
import { drawGraph } from "./graph.js";

const root = document.getElementById("run");
const runId = root.dataset.run;
const base = "/runs/" + encodeURIComponent(runId);
const EVENT_TYPES = [
  "run_started", "run_resumed", "run_waiting", "run_succeeded", "run_failed", "run_cancelled",
  "step_started", "attempt_failed", "step_succeeded", "step_failed", "step_skipped",
  "step_cancelled", "approval_requested", "approval_decided",
];
const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const STEP_MOVES = {
  step_started: "running", attempt_failed: "running", step_succeeded: "succeeded",
  step_failed: "failed", step_skipped: "skipped", step_cancelled: "cancelled",
  approval_requested: "waiting", approval_decided: "running",
};

const keys = new Map();        // step key -> {status, start, end, model, cost, attempts}
const children = new Map();    // top-level id -> {total, done}
const dirty = new Set();
let queue = [];
let graph = null;
let runStatus = "pending";
let lastSeq = 0;
let source = null;
let selected = null;
let firstApplied = false;
let settled = false;
let quiet = 1000;           // the pause before listening again to a waiting run
const applied = [];            // [seq, when applied (ms since epoch)] for measuring lag

function topOf(key) { const m = /^[^[#/]+/.exec(key); return m ? m[0] : key; }

function apply(event) {
  lastSeq = Math.max(lastSeq, event.seq);
  const type = event.type;
  if (type.startsWith("run_")) {
    runStatus = { run_started: "running", run_resumed: "running", run_waiting: "waiting",
      run_succeeded: "succeeded", run_failed: "failed", run_cancelled: "cancelled" }[type] || runStatus;
    return;
  }
  const key = event.step;
  if (!key) return;
  let rec = keys.get(key);
  if (!rec) {
    rec = { status: "pending", start: null, end: null, model: null, cost: 0, attempts: 0 };
    keys.set(key, rec);
    const top = topOf(key);
    if (top !== key) {
      const c = children.get(top) || { total: 0, done: 0 };
      c.total += 1;
      children.set(top, c);
    }
  }
  const before = rec.status;
  rec.status = STEP_MOVES[type] || rec.status;
  const d = event.data || {};
  if (type === "step_started") { rec.start = rec.start || event.ts; rec.attempts = Math.max(rec.attempts, d.attempt || 1); rec.end = null; }
  if (type === "step_succeeded") { rec.model = d.model || rec.model; rec.cost = d.cost || 0; }
  if (["step_succeeded", "step_failed", "step_skipped", "step_cancelled"].includes(type)) rec.end = event.ts;
  if (type === "step_skipped" && !rec.start) rec.start = event.ts;
  const top = topOf(key);
  if (top !== key && before !== rec.status && FINAL.has(rec.status) !== FINAL.has(before)) {
    const c = children.get(top);
    if (rec.status === "succeeded" || rec.status === "failed" || rec.status === "skipped") c.done += 1;
  }
  dirty.add(top);
}

function flush() {
  scheduled = false;
  const batch = queue;
  queue = [];
  for (const event of batch) apply(event);
  const now = Date.now();
  for (const event of batch) applied.push([event.seq, now]);
  for (const id of dirty) {
    const rec = keys.get(id);
    const c = children.get(id);
    const note = c ? `${c.done} of ${c.total} inner steps done` : rec && rec.model ? rec.model : "";
    if (graph) graph.setStatus(id, rec ? rec.status : "pending", note);
  }
  if (selected && dirty.has(selected)) refreshDetail();
  dirty.clear();
  showStatus();
  drawTimeline();
  if (graph && !settled && FINAL.has(runStatus)) {
    settled = true;
    performance.mark("podium:settled");  // a finished run: every step shows its last state
  }
  if (!firstApplied && batch.length) {
    firstApplied = true;
    performance.mark("podium:replayed");
  }
}

let scheduled = false;
function receive(message) {
  quiet = 1000;
  const event = JSON.parse(message.data);
  queue.push(event);
  if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
}

function listen() {
  if (source) source.close();
  const url = `/api/v1${base}/events` + (lastSeq ? `?after=${lastSeq}` : "");
  source = new EventSource(url, { withCredentials: true });
  for (const type of EVENT_TYPES) source.addEventListener(type, receive);
  source.addEventListener("end", (message) => {
    const data = JSON.parse(message.data);
    if (data.status && FINAL.has(data.status)) {
      source.close();
      source = null;
      queue.push({ seq: lastSeq, type: "run_" + data.status, step: null, data: {} });
      if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
      setTimeout(loadRun, 50);
    }
    else if (data.status === "waiting") {
      // the stream ends while the run waits for a decision: listen again from the last
      // event, after a pause that grows while nothing happens (1 s up to 5 s)
      source.close();
      source = null;
      setTimeout(listen, quiet);
      quiet = Math.min(quiet * 2, 5000);
    }
  });
}

function showStatus() {
  const badge = document.getElementById("run-status");
  if (badge.dataset.status !== runStatus) {
    badge.dataset.status = runStatus;
    badge.className = "status " + runStatus;
    badge.textContent = runStatus;
    if (FINAL.has(runStatus) || runStatus === "waiting") announce(`run ${runStatus}`);
  }
  const cancel = document.getElementById("cancel");
  const resume = document.getElementById("resume");
  if (cancel) cancel.hidden = FINAL.has(runStatus);
  if (resume) resume.hidden = !(runStatus === "failed" || runStatus === "cancelled");
}

// timeline: one row per step key that has started, bars on a shared time axis
const ROW = 16;
const LABEL = 150;
let timelineTimer = null;
function drawTimeline() {
  if (timelineTimer) return;
  timelineTimer = setTimeout(() => { timelineTimer = null; renderTimeline(); }, 200);
}
function renderTimeline() {
  const rows = [...keys.entries()].filter(([, r]) => r.start);
  const box = document.getElementById("timeline");
  if (!rows.length) { box.replaceChildren(h("p", { class: "muted" }, "No step has started yet.")); return; }
  const t0 = Math.min(...rows.map(([, r]) => r.start));
  const t1 = Math.max(...rows.map(([, r]) => r.end || Date.now() / 1000), t0 + 0.001);
  const width = Math.max(box.clientWidth - 10, 320);
  const span = width - LABEL - 60;
  const svg = s("svg", { width, height: rows.length * ROW + 24, role: "img", "aria-label": `Timeline of ${rows.length} steps over ${fmt.ms((t1 - t0) * 1000)}` });
  rows.forEach(([key, r], i) => {
    const x = LABEL + ((r.start - t0) / (t1 - t0)) * span;
    const w = Math.max(2, (((r.end || t1) - r.start) / (t1 - t0)) * span);
    const took = r.end ? fmt.ms((r.end - r.start) * 1000) : "…";
    svg.append(s("text", { x: 0, y: i * ROW + 12 }, key.length > 22 ? key.slice(0, 21) + "…" : key));
    svg.append(s("rect", { class: "bar s-" + r.status, x, y: i * ROW + 3, width: w, height: ROW - 5 },
      s("title", {}, `${key}: ${r.status}, ${took}`)));
  });
  svg.append(s("text", { x: LABEL, y: rows.length * ROW + 18 }, "0"));
  svg.append(s("text", { x: LABEL + span, y: rows.length * ROW + 18, "text-anchor": "end" }, fmt.ms((t1 - t0) * 1000)));
  box.replaceChildren(svg);
}

// step details
let detailTimer = null;
function refreshDetail() {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(() => showDetail(selected), 150);
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

async function showDetail(key) {
  const box = document.getElementById("detail");
  let d;
  try {
    d = await api(`${base}/steps/${encodeURIComponent(key)}`);
  } catch (error) {
    clear(box, h("h2", { id: "detail-h" }, "Step " + key), h("p", { class: "error" }, problemText(error)));
    return;
  }
  const parts = [h("h2", { id: "detail-h" }, "Step ", h("code", {}, key), " ", statusBadge(d.status)),
    kv([["Model", d.model], ["Attempts", String(d.attempts)], ["Cost", fmt.cost(d.cost)],
      ["Took", d.duration_ms !== null && d.duration_ms !== undefined ? fmt.ms(d.duration_ms) : null],
      ["Cached", d.cached ? "yes" : null], ["Error", d.error]])];
  const dec = d.decision;
  if (dec && dec.reason) {
    parts.push(h("h3", {}, "Why this model"), h("p", {}, dec.reason), kv([["Policy", dec.policy], ["Asked for", dec.ref], ["Chosen", dec.chosen]]));
    if (dec.candidates && dec.candidates.length) {
      parts.push(table([{ label: "Candidate" }, { label: "Score", num: true }, { label: "Note" }],
        dec.candidates.map((c) => [c.model, c.score.toFixed(4), c.note || ""]), { caption: "Candidates and scores" }));
    }
    if (dec.rejected && dec.rejected.length) {
      parts.push(h("p", { class: "muted" }, "Left out: " + dec.rejected.map((r) => `${r.model} (${r.why})`).join("; ")));
    }
  }
  if (d.members) {
    parts.push(h("h3", {}, "Ensemble members"), table([{ label: "Model" }, { label: "Answer" }, { label: "Weight", num: true }],
      d.members.map((m) => [m.model, JSON.stringify(m.output && (m.output.label ?? m.output.value ?? m.output)), m.weight !== undefined ? Number(m.weight).toFixed(3) : "–"]), { caption: "Ensemble members and weights" }));
  }
  if (d.cascade) {
    parts.push(h("h3", {}, "Cascade stages"), table([{ label: "Stage" }, { label: "Model" }, { label: "Detail" }],
      d.cascade.map((c, i) => [String(i + 1), c.model || "", JSON.stringify(Object.fromEntries(Object.entries(c).filter(([k]) => k !== "model")))]), { caption: "Cascade stages" }));
  } else if (dec && dec.cascade) {
    parts.push(h("h3", {}, "Cascade plan"), h("p", {}, dec.cascade.map((c) => `${c.model}${c.threshold !== null ? ` (answers at ≥ ${c.threshold})` : ""}`).join(" → ")));
  }
  if (d.approval) parts.push(h("h3", {}, "Approval"), h("pre", {}, fmt.json(d.approval)));
  if (d.inputs !== null && d.inputs !== undefined) parts.push(h("h3", {}, "Inputs"), h("pre", {}, fmt.json(d.inputs)));
  if (d.output !== null && d.output !== undefined) parts.push(h("h3", {}, "Output"), h("pre", {}, fmt.json(d.output)));
  if (d.events.length) {
    parts.push(h("h3", {}, "Attempts and events"), table([{ label: "#", num: true }, { label: "Event" }, { label: "At" }, { label: "Detail" }],
      d.events.map((e) => [String(e.seq), e.type, fmt.clock(e.ts), e.data.error || e.data.reason || (e.data.attempt ? "attempt " + e.data.attempt : "")]), { caption: "Events of this step" }));
  }
  clear(box, ...parts);
}

function select(key) {
  selected = key;
  if (graph) graph.select(key);
  showDetail(key);
}

async function loadRun() {
  try {
    const run = await api(base);
    runStatus = run.status;
    document.getElementById("run-meta").textContent =
      `${run.workflow} · started ${fmt.time(run.started_at)} · cost ${fmt.cost(run.cost)}` + (run.principal ? ` · by ${run.principal}` : "");
    clear(document.getElementById("io"),
      h("h3", {}, "Inputs"), h("pre", {}, fmt.json(run.inputs)),
      h("h3", {}, "Outputs"), h("pre", {}, run.outputs ? fmt.json(run.outputs) : "(none yet)"),
      run.error ? h("p", { class: "error" }, run.error) : null);
    showStatus();
  } catch (error) {
    document.getElementById("run-meta").textContent = problemText(error);
  }
}

function wireButtons() {
  const act = (what) => async () => {
    try {
      await api(`${base}/${what}`, { method: "POST" });
      announce(`run ${what === "cancel" ? "cancelled" : "resumed"}`);
      if (what === "resume" || !source) listen();
      loadRun();
    } catch (error) {
      announce(problemText(error));
      document.getElementById("run-meta").textContent = problemText(error);
    }
  };
  if (can.operate) {
    document.getElementById("cancel").addEventListener("click", act("cancel"));
    document.getElementById("resume").addEventListener("click", act("resume"));
  }
}

async function main() {
  wireButtons();
  listen();  // events are queued until the graph is drawn; the stream starts at once
  const shape = await api(`${base}/graph`);
  graph = drawGraph(document.getElementById("graph"), shape.steps, { onSelect: select, label: `Steps of ${shape.workflow}` });
  performance.mark("podium:graph");
  for (const id of keys.keys()) dirty.add(topOf(id));
  if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
  setTimeout(loadRun, 0);  // the run's summary and outputs: after the graph, off its path
}

window.podiumRun = { applied, keys, get status() { return runStatus; } };
main().catch((error) => { document.getElementById("run-meta").textContent = problemText(error); });
