import { api, can, clear, fmt, h, problemText, table } from "./app.js";

const box = document.getElementById("models");

function runtime(spec) { return spec.runtime ? spec.runtime.kind : "–"; }

function quality(spec) {
  const q = spec.quality || {};
  const parts = Object.entries(q).map(([cap, v]) => `${cap} ${v.toFixed(3)}`);
  return parts.length ? parts.join(", ") : "–";
}

function health(info) {
  if (!info) return "–";
  const states = info.instances.map((i) => i.circuit);
  if (!states.length) return "not called yet";
  const open = states.filter((st) => st !== "closed").length;
  return open ? `${open} of ${states.length} open` : `${states.length} closed`;
}

async function render(specs) {
  if (!specs.length) { clear(box, h("p", { class: "muted" }, "No model matches.")); return; }
  const stats = await api("/stats?by=model").catch(() => ({ items: [] }));
  const live = new Map(stats.items.map((i) => [i.key, i]));
  const healths = await Promise.all(specs.map((sp) =>
    api(`/models/${encodeURIComponent(sp.name)}/${encodeURIComponent(sp.version)}/health`).catch(() => null)));
  const rows = specs.map((sp, i) => {
    const l = live.get(`${sp.name}@${sp.version}`);
    return [
      h("a", { href: "/models/" + encodeURIComponent(sp.name) }, sp.name),
      sp.version + (sp.status && sp.status !== "active" ? ` (${sp.status})` : ""),
      sp.capabilities.join(", "),
      runtime(sp),
      health(healths[i]),
      l ? fmt.ms(l.p50_ms) : "–",
      l ? fmt.ms(l.p95_ms) : "–",
      fmt.cost(sp.cost ? sp.cost.per_call : null),
      quality(sp),
      l ? String(l.calls) : "0",
    ];
  });
  clear(box, table([
    { label: "Model" }, { label: "Version" }, { label: "Capabilities" }, { label: "Runtime" }, { label: "Breakers" },
    { label: "p50", num: true }, { label: "p95", num: true }, { label: "Cost/call", num: true }, { label: "Quality" }, { label: "Calls", num: true },
  ], rows, { caption: "Models and versions" }));
}

async function all() {
  try {
    const page = await api("/models?limit=1000");
    await render(page.items);
  } catch (error) {
    clear(box, h("p", { class: "error", role: "alert" }, problemText(error)));
  }
}

document.getElementById("search").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = document.getElementById("q").value.trim();
  if (!q) { all(); return; }
  try {
    const hits = await api("/models/search?limit=50&q=" + encodeURIComponent(q));
    const specs = await Promise.all(hits.map((hit) => api(`/models/${encodeURIComponent(hit.name)}/${encodeURIComponent(hit.version)}`)));
    await render(specs);
  } catch (error) {
    clear(box, h("p", { class: "error", role: "alert" }, problemText(error)));
  }
});

if (can.admin) {
  document.getElementById("register-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = document.getElementById("register-result");
    try {
      const done = await api("/models", { method: "POST", body: { text: document.getElementById("manifest").value, type: "application/yaml" } });
      out.textContent = "Registered " + done.map((sp) => `${sp.name}@${sp.version}`).join(", ");
      all();
    } catch (error) {
      out.textContent = problemText(error);
    }
  });
}
all();
