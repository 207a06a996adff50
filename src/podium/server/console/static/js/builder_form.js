// The builder's step inspector: one labelled form per step kind. Every change goes through
// `ctx.change(mutator)`, connections through `ctx.connect(step, field, expression, type)`.
import { h } from "./app.js";
import { baseType, unwrap, wrap } from "./types.js";

const POLICIES = ["", "best", "cheapest", "fastest", "balanced", "learned", "cascade"];
const COMBINES = ["majority", "weighted", "mean", "median", "max_confidence"];

function field(id, label, control, hint) {
  return h("div", { class: "field" }, h("label", { for: id }, label), control,
    hint ? h("p", { class: "field-error", id: id + "-error", role: "alert" }, hint) : null);
}

function text(id, value, onchange, attrs = {}) {
  return h("input", { id, value: value ?? "", onchange: (e) => onchange(e.target.value), ...attrs });
}

function number(id, value, onchange, attrs = {}) {
  return h("input", { id, type: "number", step: "any", min: "0", value: value ?? "", onchange: (e) => onchange(e.target.value === "" ? undefined : Number(e.target.value)), ...attrs });
}

function select(id, options, value, onchange, attrs = {}) {
  // options: [value, label] or {group, items}
  const el = h("select", { id, onchange: (e) => onchange(e.target.value), ...attrs });
  for (const opt of options) {
    if (opt.group) el.append(h("optgroup", { label: opt.group }, opt.items.map(([v, l]) => h("option", { value: v }, l))));
    else el.append(h("option", { value: opt[0] }, opt[1]));
  }
  el.value = value ?? "";
  return el;
}

function setOrDelete(obj, key, value) {
  if (value === undefined || value === "" || value === null || (Array.isArray(value) && !value.length)) delete obj[key];
  else obj[key] = value;
}

// The sources a field of `stepId` may be connected to, with their types.
export function sources(ctx, stepId, extra = []) {
  const found = [...extra];
  for (const [name, type] of Object.entries(ctx.doc.inputs || {})) found.push([`inputs.${name}`, baseType(type)]);
  for (const info of ctx.info.steps) {
    if (info.id === stepId) continue;
    for (const f of info.output) {
      if (f.name === "(list)") found.push([`steps.${info.id}.output`, "array"]);
      else found.push([`steps.${info.id}.output.${f.name}`, baseType(f.type)]);
    }
  }
  return found;
}

// One row per input field of a capability: where its value comes from.
function inputRows(ctx, stepId, withMap, fields, path, extra = []) {
  const rows = [];
  const avail = sources(ctx, stepId, extra);
  const names = new Set(fields.map((f) => f.name));
  const all = [...fields, ...Object.keys(withMap || {}).filter((k) => !names.has(k)).map((k) => ({ name: k, type: "any", required: false }))];
  for (const f of all) {
    const id = `in-${f.name}`;
    const value = (withMap || {})[f.name];
    const inner = unwrap(value);
    let mode = "";
    if (value !== undefined) mode = inner !== null ? (avail.some(([src]) => src === inner) ? inner : "expr") : "value";
    const options = [["", "— not set —"], ["value", "a value…"], ["expr", "an expression…"],
      { group: "connect to", items: avail.map(([src, type]) => [src, `${src} (${type})`]) }];
    const detail = mode === "expr" ? inner : mode === "value" ? String(typeof value === "string" ? value : JSON.stringify(value)) : "";
    const hidden = mode !== "expr" && mode !== "value";
    const textBox = h("input", {
      id: id + "-text", "aria-label": `${f.name}: ${mode === "expr" ? "expression" : "value"}`, value: detail, hidden,
      onchange: (e) => {
        const v = e.target.value;
        const chosen = document.getElementById(id).value;
        ctx.connect(stepId, path, f.name, chosen === "expr" ? wrap(v) : literal(v, f.type), null);
      },
    });
    const sel = select(id, options, mode, (chosen) => {
      if (chosen === "") { ctx.connect(stepId, path, f.name, undefined, null); return; }
      if (chosen === "value" || chosen === "expr") { textBox.hidden = false; textBox.focus(); return; }
      const type = (avail.find(([src]) => src === chosen) || [])[1];
      ctx.connect(stepId, path, f.name, wrap(chosen), { source: type, target: baseType(f.type) });
    });
    rows.push(h("div", { class: "field" },
      h("label", { for: id }, `${f.name} (${baseType(f.type)}${f.required ? ", required" : ""})`),
      sel, textBox, h("p", { class: "field-error", id: id + "-error", role: "alert" }, ctx.fieldErrors[`${stepId}.${f.name}`] || "")));
  }
  return rows;
}

function literal(text, type) {
  const t = baseType(type);
  if (t === "number" || t === "integer") { const n = Number(text); return Number.isNaN(n) ? text : n; }
  if (t === "boolean") return text === "true";
  if (t === "array" || t === "object") { try { return JSON.parse(text); } catch { return text; } }
  return text;
}

function capabilityOptions(ctx, prefixModels = true) {
  const caps = ctx.caps.map((c) => [`capability/${c.name}`, c.name]);
  const models = [...new Set(ctx.caps.flatMap((c) => c.providers.map((p) => p.model.split("@")[0])))].sort().map((m) => [`model/${m}`, m]);
  return [["", "— choose —"], { group: "capabilities", items: caps }, ...(prefixModels ? [{ group: "models", items: models }] : [])];
}

function fieldsOf(ctx, uses) {
  if (!uses) return [];
  if (uses.startsWith("capability/")) {
    const cap = ctx.caps.find((c) => c.name === uses.slice(11));
    return cap ? cap.input : [];
  }
  const name = uses.slice(6).split("@")[0];
  const cap = ctx.caps.find((c) => c.providers.some((p) => p.model.split("@")[0] === name));
  return cap ? cap.input : [];
}

function common(ctx, id, body, { route = false, retry = true, cache = false } = {}) {
  const parts = [];
  parts.push(field("step-if", "Run only if (expression)", text("step-if", unwrap(body.if) ?? body.if ?? "",
    (v) => ctx.change((d) => setOrDelete(d.steps[id], "if", v.trim() ? wrap(v.trim()) : undefined)), { placeholder: "steps.tone.output.score < -0.5" })));
  if (route) {
    const r = typeof body.route === "string" ? { policy: body.route } : body.route || {};
    const setRoute = (key, v) => ctx.change((d) => {
      const now = typeof d.steps[id].route === "string" ? { policy: d.steps[id].route } : { ...(d.steps[id].route || {}) };
      setOrDelete(now, key, v);
      setOrDelete(d.steps[id], "route", Object.keys(now).length ? now : undefined);
    });
    parts.push(h("fieldset", {}, h("legend", {}, "Routing"),
      field("step-policy", "Route policy", select("step-policy", POLICIES.map((p) => [p, p || "default (balanced)"]), r.policy || "", (v) => setRoute("policy", v || undefined))),
      field("step-max-cost", "Most cost per call", number("step-max-cost", r.max_cost, (v) => setRoute("max_cost", v))),
      field("step-max-latency", "Slowest expected latency (ms)", number("step-max-latency", r.max_latency_ms, (v) => setRoute("max_latency_ms", v))),
      field("step-min-quality", "Least quality (0 to 1)", number("step-min-quality", r.min_quality, (v) => setRoute("min_quality", v), { max: "1" }))));
  }
  if (retry) {
    const rt = typeof body.retry === "number" ? { attempts: body.retry } : body.retry || {};
    const setRetry = (key, v) => ctx.change((d) => {
      const now = typeof d.steps[id].retry === "number" ? { attempts: d.steps[id].retry } : { ...(d.steps[id].retry || {}) };
      setOrDelete(now, key, v);
      setOrDelete(d.steps[id], "retry", Object.keys(now).length ? now : undefined);
    });
    parts.push(h("fieldset", {}, h("legend", {}, "Retries and time"),
      field("step-attempts", "Attempts", number("step-attempts", rt.attempts, (v) => setRetry("attempts", v), { min: "1", step: "1" })),
      field("step-backoff", "Backoff (s)", number("step-backoff", rt.backoff_s, (v) => setRetry("backoff_s", v))),
      field("step-timeout", "Timeout (s)", number("step-timeout", body.timeout_s, (v) => ctx.change((d) => setOrDelete(d.steps[id], "timeout_s", v))))));
  }
  if (cache) {
    parts.push(h("div", { class: "field inline" },
      h("input", { type: "checkbox", id: "step-cache", checked: Boolean(body.cache), onchange: (e) => ctx.change((d) => setOrDelete(d.steps[id], "cache", e.target.checked || undefined)) }),
      h("label", { for: "step-cache" }, "Cache answers for the same input")));
  }
  return parts;
}

function callForm(ctx, id, body) {
  const models = [...new Set(ctx.caps.flatMap((c) => c.providers.map((p) => p.model.split("@")[0])))].sort();
  const fallback = new Set((body.fallback || []).map(String));
  return [
    field("step-uses", "Uses", select("step-uses", capabilityOptions(ctx), body.uses || "", (v) => ctx.change((d) => setOrDelete(d.steps[id], "uses", v || undefined)))),
    h("fieldset", {}, h("legend", {}, "Inputs"), inputRows(ctx, id, body.with, fieldsOf(ctx, body.uses), [])),
    ...common(ctx, id, body, { route: true, cache: true }),
    field("step-fallback", "Fall back to (models)", select("step-fallback", models.map((m) => [`model/${m}`, m]), "", () => {
      const chosen = [...document.getElementById("step-fallback").selectedOptions].map((o) => o.value);
      ctx.change((d) => setOrDelete(d.steps[id], "fallback", chosen));
    }, { multiple: true, size: Math.min(5, Math.max(2, models.length)) })),
  ].map((el) => {
    if (el.querySelector) {
      const fb = el.querySelector("#step-fallback");
      if (fb) for (const o of fb.options) o.selected = fallback.has(o.value);
    }
    return el;
  });
}

function ensembleForm(ctx, id, body) {
  const capName = typeof body.ensemble === "string" ? body.ensemble.replace("capability/", "") : "";
  const cap = ctx.caps.find((c) => c.name === capName);
  const chosen = new Set(Array.isArray(body.models) ? body.models.map(String) : []);
  const members = cap ? cap.providers.map((p) => {
    const ref = `model/${p.model.split("@")[0]}`;
    const mid = "member-" + p.model.split("@")[0];
    return h("div", { class: "inline" },
      h("input", { type: "checkbox", id: mid, checked: chosen.has(ref), onchange: (e) => ctx.change((d) => {
        const now = Array.isArray(d.steps[id].models) ? d.steps[id].models.filter((m) => m !== ref) : [];
        if (e.target.checked) now.push(ref);
        d.steps[id].models = now.length ? now : 3;
      }) }),
      h("label", { for: mid }, p.model));
  }) : [h("p", { class: "muted" }, "Choose a capability first.")];
  return [
    field("step-ensemble", "Capability", select("step-ensemble", capabilityOptions(ctx, false), body.ensemble || "", (v) => ctx.change((d) => { d.steps[id].ensemble = v; }))),
    h("fieldset", {}, h("legend", {}, "Members"), members),
    field("step-combine", "Combine by", select("step-combine", COMBINES.map((c) => [c, c]), body.combine || "majority", (v) => ctx.change((d) => { d.steps[id].combine = v; }))),
    h("fieldset", {}, h("legend", {}, "Inputs"), inputRows(ctx, id, body.with, cap ? cap.input : [], [])),
    ...common(ctx, id, body, { route: true, cache: true }),
  ];
}

function innerForm(ctx, id, inner, path, extra, legend) {
  return h("fieldset", {}, h("legend", {}, legend),
    field("inner-uses", "Uses", select("inner-uses", capabilityOptions(ctx), inner.uses || "", (v) => ctx.change((d) => {
      const target = path.reduce((o, k) => o[k], d.steps[id]);
      target.uses = v;
    }))),
    inputRows(ctx, id, inner.with, fieldsOf(ctx, inner.uses), path, extra));
}

function mapForm(ctx, id, body) {
  const over = unwrap(body.map) ?? "";
  const arrays = sources(ctx, id).filter(([, t]) => t === "array" || t === "any");
  return [
    field("step-map", "For each element of (expression)", h("input", { id: "step-map", value: over, list: "map-sources",
      onchange: (e) => ctx.change((d) => { d.steps[id].map = wrap(e.target.value.trim()); }) })),
    h("datalist", { id: "map-sources" }, arrays.map(([src]) => h("option", { value: src }))),
    field("step-concurrency", "At most at once", number("step-concurrency", body.concurrency, (v) => ctx.change((d) => setOrDelete(d.steps[id], "concurrency", v)), { min: "1", step: "1" })),
    innerForm(ctx, id, body.step || {}, ["step"], [["item", "any"]], "Step run for each element (item)"),
    ...common(ctx, id, body),
  ];
}

function loopForm(ctx, id, body) {
  const loop = body.loop || {};
  const innerId = Object.keys(loop.steps || {})[0] || "body";
  return [
    field("loop-max", "At most iterations", number("loop-max", loop.max_iterations, (v) => ctx.change((d) => { d.steps[id].loop.max_iterations = v; }), { min: "1", step: "1" })),
    field("loop-until", "Until (expression)", text("loop-until", unwrap(loop.until) ?? "", (v) => ctx.change((d) => setOrDelete(d.steps[id].loop, "until", v.trim() ? wrap(v.trim()) : undefined)), { placeholder: `steps.${innerId}.output.ok` })),
    innerForm(ctx, id, (loop.steps || {})[innerId] || {}, ["loop", "steps", innerId], [[`loop.last.${innerId}`, "any"], ["loop.iteration", "integer"]], `Step repeated (${innerId})`),
    ...common(ctx, id, body, { retry: false }),
  ];
}

function workflowForm(ctx, id, body) {
  return [
    field("step-workflow", "Workflow file", text("step-workflow", body.workflow, (v) => ctx.change((d) => { d.steps[id].workflow = v; }))),
    h("p", { class: "muted" }, "A file beside the workflow when run with the CLI; the server refuses files, so inline its steps to run it here."),
    ...common(ctx, id, body, { retry: false }),
  ];
}

function approvalForm(ctx, id, body) {
  const a = body.approval || {};
  const set = (key, v) => ctx.change((d) => { d.steps[id].approval = { ...(d.steps[id].approval || {}) }; setOrDelete(d.steps[id].approval, key, v); });
  return [
    field("approval-prompt", "Question for the approver", text("approval-prompt", a.prompt, (v) => set("prompt", v))),
    field("approval-approvers", "Who may decide (roles or names, comma-separated)", text("approval-approvers", (a.approvers || []).join(", "), (v) => set("approvers", v.split(",").map((x) => x.trim()).filter(Boolean)))),
    field("approval-timeout", "Give up after (s)", number("approval-timeout", a.timeout_s, (v) => set("timeout_s", v))),
    ...common(ctx, id, body, { retry: false }),
  ];
}

const FORMS = { uses: callForm, ensemble: ensembleForm, map: mapForm, loop: loopForm, workflow: workflowForm, approval: approvalForm };

export function kindOf(body) {
  for (const k of ["uses", "ensemble", "map", "loop", "workflow", "approval"]) if (body && k in body) return k;
  return "uses";
}

export function inspector(ctx, id) {
  const body = ctx.doc.steps[id];
  const kind = kindOf(body);
  const errors = ctx.info.errors.filter((e) => e.step === id);
  return [
    field("step-id", "Step name", text("step-id", id, (v) => ctx.rename(id, v.trim()), { pattern: "[A-Za-z_][A-Za-z0-9_\\-]*", required: true })),
    h("p", { class: "muted" }, `Kind: ${kind === "uses" ? "model call" : kind}`),
    errors.length ? h("div", { class: "error", role: "alert", id: "step-errors" }, errors.map((e) => h("p", {}, (e.field ? e.field + ": " : "") + e.message))) : null,
    ...FORMS[kind](ctx, id, body),
    h("button", { type: "button", class: "danger", id: "delete-step", onclick: () => ctx.remove(id) }, `Delete step ${id}`),
  ];
}
