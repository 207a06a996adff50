// The no-code workflow builder. The workflow document is the one state; the server turns
// it into YAML and validates it (POST /workflows/draft), and YAML typed in the panel comes
// back as the document, so graph and YAML always show the same workflow.
import { announce, api, can, clear, h, problemText, query } from "./app.js";
import { inspector, kindOf, sources } from "./builder_form.js";
import { drawGraph } from "./graph.js";
import { assignable, baseType } from "./types.js";

const TYPES = ["string", "number", "integer", "boolean", "array", "object"];
const ctx = {
  doc: { name: "my-workflow", inputs: {}, steps: {}, outputs: {} },
  info: { steps: [], errors: [], valid: false },
  caps: [],
  fieldErrors: {},     // "step.field" -> why the last connection there was refused
  change, connect, rename, remove,
};
let selected = null;
let graph = null;
let saved = null;      // {name, version} of the last save, while nothing changed since
let syncTimer = null;
let syncing = Promise.resolve();
const statusLine = document.getElementById("builder-status");
const yamlBox = document.getElementById("yaml");

function say(message) { statusLine.textContent = message; announce(message); }

// --- the document and the server's view of it ---------------------------------------------
function change(mutate, { redraw = true } = {}) {
  mutate(ctx.doc);
  saved = null;
  schedule(redraw);
}

function schedule(redraw = true) {
  clearTimeout(syncTimer);
  syncTimer = setTimeout(() => { syncing = sync({ document: ctx.doc }, redraw); }, 120);
}

async function sync(body, redraw = true) {
  try {
    const draft = await api("/workflows/draft", { method: "POST", body });
    if (draft.document) ctx.doc = normalise(draft.document);
    ctx.info = draft;
    if (document.activeElement !== yamlBox) yamlBox.value = draft.yaml;
    render(redraw);
    return draft;
  } catch (error) {
    say(problemText(error));
    return null;
  }
}

function normalise(doc) {
  doc.inputs ||= {};
  doc.steps ||= {};
  doc.outputs ||= {};
  return doc;
}

async function settle() {
  if (syncTimer) { clearTimeout(syncTimer); syncTimer = null; syncing = sync({ document: ctx.doc }); }
  return syncing;
}

// --- connections: type-checked as they are made -------------------------------------------
async function connect(stepId, path, fieldName, value, types) {
  const key = `${stepId}.${fieldName}`;
  if (types && types.source && !assignable(types.source, types.target)) {
    const message = `cannot connect: ${fieldName} takes ${types.target}, but that gives ${types.source}`;
    ctx.fieldErrors[key] = message;
    say(message);
    render(false);
    return;
  }
  delete ctx.fieldErrors[key];
  change((d) => {
    const target = path.reduce((o, k) => o[k], d.steps[stepId]);
    target.with = { ...(target.with || {}) };
    if (value === undefined) delete target.with[fieldName];
    else target.with[fieldName] = value;
    if (!Object.keys(target.with).length) delete target.with;
  });
  const draft = await settle();
  const field = ["steps", stepId, ...path, "with", fieldName].join(".");
  const bad = draft && draft.errors.find((e) => e.field === field);
  if (bad) { ctx.fieldErrors[key] = bad.message; render(false); }
  else if (value !== undefined) announce(`connected ${stepId}.${fieldName}`);
}

function rename(old, now) {
  if (!now || now === old) return;
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(now) || now in ctx.doc.steps) { say(`cannot rename to '${now}'`); return; }
  const text = JSON.stringify(ctx.doc).split(`steps.${old}.`).join(`steps.${now}.`);
  const doc = JSON.parse(text);
  doc.steps = Object.fromEntries(Object.entries(doc.steps).map(([k, v]) => [k === old ? now : k, v]));
  ctx.doc = doc;
  selected = now;
  saved = null;
  schedule();
}

function remove(id) {
  change((d) => { delete d.steps[id]; });
  selected = null;
  say(`deleted step ${id}`);
}

function freshId(base) {
  let id = base.replace(/[^A-Za-z0-9_-]/g, "_").replace(/^[^A-Za-z_]/, "s");
  let n = 2;
  const start = id;
  while (id in ctx.doc.steps) id = `${start}_${n++}`;
  return id;
}

function addStep(base, body) {
  const id = freshId(base);
  change((d) => { d.steps[id] = body; });
  selected = id;
  say(`added step ${id}`);
}

// --- drawing ------------------------------------------------------------------------------
function render(redraw = true) {
  const canvas = document.getElementById("canvas");
  const info = new Map(ctx.info.steps.map((st) => [st.id, st]));
  const steps = Object.keys(ctx.doc.steps).map((id) => info.get(id) || { id, kind: kindOf(ctx.doc.steps[id]), deps: [] });
  if (redraw || !graph) {
    if (steps.length) graph = drawGraph(canvas, steps, { onSelect: (id) => { selected = id; renderInspector(); }, label: "Steps of the workflow" });
    else { graph = null; canvas.replaceChildren(h("p", { class: "muted" }, "No steps yet: add one under “Add a step”.")); }
  }
  const byStep = new Map();
  for (const e of ctx.info.errors) if (e.step) byStep.set(e.step, e.message);
  if (graph) {
    for (const st of steps) graph.setError(st.id, byStep.get(st.id) || "");
    if (selected) graph.select(selected);
  }
  const general = ctx.info.errors.filter((e) => !e.step);
  clear(document.getElementById("errors"),
    ctx.info.errors.length
      ? h("div", {}, h("p", { class: "error" }, `${ctx.info.errors.length} problem(s):`),
        h("ul", {}, ctx.info.errors.map((e) => h("li", {},
          e.step ? h("button", { type: "button", class: "link-like", onclick: () => { selected = e.step; render(false); } }, e.step) : "workflow",
          `: ${e.message}${e.line ? ` (line ${e.line})` : ""}`))))
      : h("p", { class: "muted", id: "valid-note" }, steps.length ? "Valid: every check passed." : ""));
  if (general.length) document.getElementById("errors").dataset.general = "1";
  renderInspector();
  renderIO();
  document.getElementById("wf-name").value = ctx.doc.name || "";
  document.getElementById("wf-description").value = ctx.doc.description || "";
}

function renderInspector() {
  const box = document.getElementById("inspector");
  if (!selected || !(selected in ctx.doc.steps)) {
    clear(box, h("p", { class: "muted" }, "Add a step, or choose one in the graph."));
    return;
  }
  const focused = document.activeElement && box.contains(document.activeElement) ? document.activeElement.id : null;
  clear(box, ...inspector(ctx, selected));
  if (graph) graph.select(selected);
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
}

function renderIO() {
  const inputs = document.getElementById("inputs");
  const focused = document.activeElement && document.activeElement.id;
  clear(inputs, ...Object.entries(ctx.doc.inputs).map(([name, type], i) => h("div", { class: "io-row" },
    h("div", {}, h("label", { for: `input-name-${i}` }, "Name"),
      h("input", { id: `input-name-${i}`, value: name, onchange: (e) => change((d) => {
        const v = e.target.value.trim();
        d.inputs = Object.fromEntries(Object.entries(d.inputs).map(([k, t]) => [k === name ? v : k, t]).filter(([k]) => k));
      }) })),
    h("div", {}, h("label", { for: `input-type-${i}` }, "Type"),
      (() => { const el = h("select", { id: `input-type-${i}`, onchange: (e) => change((d) => { d.inputs[name] = e.target.value; }) }, TYPES.map((t) => h("option", { value: t }, t))); el.value = baseType(type); return el; })()),
    h("button", { type: "button", "aria-label": `Remove input ${name}`, onclick: () => change((d) => { delete d.inputs[name]; }) }, "Remove"))));
  const outputs = document.getElementById("outputs");
  const avail = sources(ctx, null);
  clear(outputs, ...Object.entries(ctx.doc.outputs).map(([name, expr], i) => h("div", { class: "io-row" },
    h("div", {}, h("label", { for: `output-name-${i}` }, "Name"),
      h("input", { id: `output-name-${i}`, value: name, onchange: (e) => change((d) => {
        const v = e.target.value.trim();
        d.outputs = Object.fromEntries(Object.entries(d.outputs).map(([k, x]) => [k === name ? v : k, x]).filter(([k]) => k));
      }) })),
    h("div", {}, h("label", { for: `output-expr-${i}` }, "Value (expression)"),
      h("input", { id: `output-expr-${i}`, value: String(expr).replace(/^\$\{\{\s*|\s*\}\}$/g, ""), list: "output-sources",
        onchange: (e) => change((d) => { d.outputs[name] = "${{ " + e.target.value.trim() + " }}"; }) })),
    h("button", { type: "button", "aria-label": `Remove output ${name}`, onclick: () => change((d) => { delete d.outputs[name]; }) }, "Remove"))),
  h("datalist", { id: "output-sources" }, avail.map(([src]) => h("option", { value: src }))));
  if (focused && document.getElementById(focused) && !document.getElementById(focused).closest("#inspector")) document.getElementById(focused).focus();
}

function renderPalette(filter = "") {
  const list = document.getElementById("capabilities");
  const f = filter.toLowerCase();
  clear(list, ...ctx.caps.filter((c) => !f || c.name.includes(f) || (c.description || "").toLowerCase().includes(f)).map((c) =>
    h("li", {}, h("button", { type: "button", class: "add-cap", "data-cap": c.name, title: c.description || c.name,
      onclick: () => addStep(c.name.split(".").pop(), { uses: `capability/${c.name}` }) }, `Add ${c.name}`))));
}

const KIND_BODIES = {
  map: () => ({ map: "${{ inputs.items }}", step: {} }),
  ensemble: () => ({ ensemble: ctx.caps.length ? `capability/${ctx.caps[0].name}` : "capability/x", models: 3, combine: "majority" }),
  loop: () => ({ loop: { max_iterations: 3, steps: { body: {} } } }),
  workflow: () => ({ workflow: "other.yaml" }),
  approval: () => ({ approval: { prompt: "Approve?" } }),
};

// --- save and run -------------------------------------------------------------------------
async function save() {
  const draft = await settle();
  if (!draft || !draft.valid) { say("Fix the problems first: the workflow does not validate."); return null; }
  try {
    const done = await api("/workflows", { method: "POST", body: ctx.doc });
    saved = { name: done.name, version: done.version };
    say(done.created ? `Saved ${done.name} as version ${done.version}.` : `${done.name} version ${done.version} already has this content.`);
    loadList();
    return saved;
  } catch (error) {
    say(problemText(error));
    return null;
  }
}

function inputControl(name, type, i) {
  const id = `run-input-${i}`;
  const t = baseType(type);
  const label = h("label", { for: id }, `${name} (${t})`);
  if (t === "boolean") return h("div", { class: "field inline" }, h("input", { id, type: "checkbox", "data-name": name, "data-type": t }), label);
  if (t === "number" || t === "integer") return h("div", { class: "field" }, label, h("input", { id, type: "number", step: t === "integer" ? "1" : "any", required: true, "data-name": name, "data-type": t }));
  if (t === "array" || t === "object") return h("div", { class: "field" }, label, h("textarea", { id, rows: 3, required: true, "data-name": name, "data-type": t, placeholder: t === "array" ? "[ ]" : "{ }" }));
  return h("div", { class: "field" }, label, h("input", { id, required: true, "data-name": name, "data-type": t }));
}

function openRun() {
  clear(document.getElementById("run-inputs"), ...Object.entries(ctx.doc.inputs).map(([n, t], i) => inputControl(n, t, i)));
  document.getElementById("run-error").textContent = "";
  document.getElementById("run-dialog").showModal();
}

async function run(event) {
  event.preventDefault();
  const inputs = {};
  for (const el of document.querySelectorAll("#run-inputs [data-name]")) {
    const t = el.dataset.type;
    if (t === "boolean") inputs[el.dataset.name] = el.checked;
    else if (t === "number" || t === "integer") inputs[el.dataset.name] = Number(el.value);
    else if (t === "array" || t === "object") {
      try { inputs[el.dataset.name] = JSON.parse(el.value); } catch { document.getElementById("run-error").textContent = `${el.dataset.name}: not JSON`; return; }
    } else inputs[el.dataset.name] = el.value;
  }
  const target = saved || (await save());
  if (!target) { document.getElementById("run-error").textContent = statusLine.textContent; return; }
  try {
    const started = await api("/runs", { method: "POST", body: { workflow: target.name, version: target.version, inputs } });
    location.assign("/runs/" + encodeURIComponent(started.run_id));
  } catch (error) {
    document.getElementById("run-error").textContent = problemText(error);
  }
}

// --- the list of registered workflows -----------------------------------------------------
async function loadList() {
  const list = await api("/workflows").catch(() => []);
  const sel = document.getElementById("start-from");
  const current = sel.value;
  sel.replaceChildren(h("option", { value: "" }, "an empty workflow"), ...list.map((w) => h("option", { value: w.name }, `${w.name} (v${w.version})`)));
  sel.value = current;
}

async function open(name) {
  if (!name) {
    ctx.doc = { name: "my-workflow", inputs: {}, steps: {}, outputs: {} };
  } else {
    try { ctx.doc = normalise((await api("/workflows/" + encodeURIComponent(name))).document); } catch (error) { say(problemText(error)); return; }
  }
  selected = null;
  saved = null;
  await sync({ document: ctx.doc });
  say(name ? `opened ${name}` : "started an empty workflow");
}

// --- wiring -------------------------------------------------------------------------------
document.getElementById("wf-name").addEventListener("change", (e) => change((d) => { d.name = e.target.value.trim(); }, { redraw: false }));
document.getElementById("wf-description").addEventListener("change", (e) => change((d) => { if (e.target.value.trim()) d.description = e.target.value.trim(); else delete d.description; }, { redraw: false }));
document.getElementById("load").addEventListener("click", () => open(document.getElementById("start-from").value));
document.getElementById("add-input").addEventListener("click", () => change((d) => { let n = 1; while (`input${n}` in d.inputs) n++; d.inputs[`input${n}`] = "string"; }));
document.getElementById("add-output").addEventListener("click", () => change((d) => { let n = 1; while (`output${n}` in d.outputs) n++; d.outputs[`output${n}`] = "${{ null }}"; }));
document.getElementById("cap-search").addEventListener("input", (e) => renderPalette(e.target.value));
for (const button of document.querySelectorAll("[data-kind]")) {
  button.addEventListener("click", () => addStep(button.dataset.kind === "workflow" ? "sub" : button.dataset.kind, KIND_BODIES[button.dataset.kind]()));
}
let yamlTimer = null;
yamlBox.addEventListener("input", () => {
  clearTimeout(yamlTimer);
  yamlTimer = setTimeout(async () => { saved = null; syncing = sync({ yaml: yamlBox.value }); await syncing; }, 400);
});
if (can.operate) {
  document.getElementById("save").addEventListener("click", save);
  document.getElementById("run-open").addEventListener("click", openRun);
  document.getElementById("run-form").addEventListener("submit", run);
  document.getElementById("run-close").addEventListener("click", () => document.getElementById("run-dialog").close());
}

async function main() {
  ctx.caps = await api("/capabilities").catch(() => []);
  renderPalette();
  await loadList();
  const start = query().get("workflow");
  if (start) { document.getElementById("start-from").value = start; await open(start); }
  else await sync({ document: ctx.doc });
}
window.podiumBuilder = { ctx, settle };
main();
