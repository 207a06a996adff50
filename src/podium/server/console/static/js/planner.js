// The planner page: a goal becomes a plan (POST /plans) drawn as a graph with the reason
// and expected cost of each step; save it as a named workflow, open it in the builder, or run it.
import { announce, api, clear, fmt, h, problemText, table } from "./app.js";
import { drawGraph } from "./graph.js";
import { baseType } from "./types.js";

let plan = null;

async function makePlan(event) {
  event.preventDefault();
  const body = {
    goal: document.getElementById("goal").value,
    policy: document.getElementById("policy").value,
    matcher: document.getElementById("matcher").value,
  };
  const maxCost = document.getElementById("max-cost").value;
  if (maxCost) body.max_cost = Number(maxCost);
  const box = document.getElementById("plan");
  box.hidden = false;
  const why = document.getElementById("plan-why");
  why.textContent = "Planning…";
  try {
    plan = (await api("/plans", { method: "POST", body })).plan;
  } catch (error) {
    why.textContent = problemText(error);
    clear(document.getElementById("plan-graph"));
    clear(document.getElementById("plan-steps"));
    return;
  }
  why.textContent = `${plan.steps.length} step(s), expected cost ${fmt.cost(plan.cost)} and ${fmt.ms(plan.latency_ms)} per run (planned in ${fmt.ms(plan.planning_ms)}, ${plan.origin}).`;
  drawGraph(document.getElementById("plan-graph"), plan.steps.map((st) => ({ id: st.id, kind: "call", uses: st.uses, deps: st.after })), { label: "Planned steps" });
  clear(document.getElementById("plan-steps"), table(
    [{ label: "Step" }, { label: "Uses" }, { label: "Model expected" }, { label: "Cost", num: true }, { label: "Why" }],
    plan.steps.map((st) => [st.id, st.uses, st.model, fmt.cost(st.cost), st.why]), { caption: "Planned steps and why" }));
  document.getElementById("plan-name").value = plan.workflow.name || "planned";
  const inputs = plan.workflow.inputs || {};
  clear(document.getElementById("plan-inputs"), ...Object.entries(inputs).map(([name, type], i) => h("div", { class: "field" },
    h("label", { for: `plan-input-${i}` }, `${name} (${baseType(type)})`),
    h("input", { id: `plan-input-${i}`, "data-name": name, "data-type": baseType(type), value: type && type.default !== undefined ? String(type.default) : "" }))));
  announce("plan ready");
}

function named() {
  const doc = { ...plan.workflow, name: document.getElementById("plan-name").value.trim() || plan.workflow.name };
  return doc;
}

async function save(event) {
  event.preventDefault();
  try {
    const done = await api("/workflows", { method: "POST", body: named() });
    announce(`saved ${done.name} version ${done.version}`);
    document.getElementById("plan-why").textContent = `Saved as ${done.name}, version ${done.version}.`;
  } catch (error) {
    document.getElementById("plan-why").textContent = problemText(error);
  }
}

async function run(event) {
  event.preventDefault();
  const inputs = {};
  for (const el of document.querySelectorAll("#plan-inputs [data-name]")) {
    const t = el.dataset.type;
    inputs[el.dataset.name] = t === "number" || t === "integer" ? Number(el.value) : el.value;
  }
  try {
    const started = await api("/runs", { method: "POST", body: { workflow: named(), inputs } });
    location.assign("/runs/" + encodeURIComponent(started.run_id));
  } catch (error) {
    document.getElementById("plan-why").textContent = problemText(error);
  }
}

document.getElementById("plan-form").addEventListener("submit", makePlan);
document.getElementById("save-plan").addEventListener("submit", save);
document.getElementById("run-plan").addEventListener("submit", run);
document.getElementById("open-builder").addEventListener("click", async () => {
  try {
    const done = await api("/workflows", { method: "POST", body: named() });
    location.assign("/builder?workflow=" + encodeURIComponent(done.name));
  } catch (error) {
    document.getElementById("plan-why").textContent = problemText(error);
  }
});
