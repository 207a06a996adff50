import { api, clear, fmt, h, problemText, table } from "./app.js";
import { lines } from "./chart.js";

const box = document.getElementById("model");
const name = box.dataset.name;

function schemaTable(schema, caption) {
  const fields = schema && schema.properties ? schema.properties : schema || {};
  const required = new Set((schema && schema.required) || Object.keys(fields));
  const rows = Object.entries(fields).map(([k, v]) => [h("code", {}, k), typeof v === "string" ? v : v.type || "any", required.has(k) ? "yes" : "no"]);
  return rows.length ? table([{ label: "Field" }, { label: "Type" }, { label: "Required" }], rows, { caption }) : h("p", { class: "muted" }, "any object");
}

async function main() {
  try {
    const detail = await api("/models/" + encodeURIComponent(name));
    const sp = detail.latest;
    const healthInfo = await api(`/models/${encodeURIComponent(name)}/${encodeURIComponent(sp.version)}/health`).catch(() => null);
    const st = healthInfo && healthInfo.stats;
    clear(box,
      h("section", { class: "card", "aria-labelledby": "about-h" },
        h("h2", { id: "about-h" }, `${sp.name}@${sp.version}`),
        h("p", {}, sp.description || ""),
        h("dl", { class: "kv" },
          h("dt", {}, "Capabilities"), h("dd", {}, sp.capabilities.join(", ")),
          h("dt", {}, "Runtime"), h("dd", {}, h("code", {}, JSON.stringify(sp.runtime))),
          h("dt", {}, "Cost per call"), h("dd", {}, fmt.cost(sp.cost ? sp.cost.per_call : null)),
          h("dt", {}, "Expected latency"), h("dd", {}, fmt.ms(sp.latency_ms)),
          h("dt", {}, "Quality"), h("dd", {}, Object.entries(sp.quality || {}).map(([c, q]) => `${c}: ${q.toFixed(3)}`).join(", ") || "–"),
          h("dt", {}, "Tags"), h("dd", {}, (sp.tags || []).join(", ") || "–"),
          h("dt", {}, "Live p50 / p95"), h("dd", {}, st ? `${fmt.ms(st.latency_p50_ms)} / ${fmt.ms(st.latency_p95_ms)} over ${st.calls} calls, ${fmt.pct(st.error_rate)} errors` : "no calls yet"),
        )),
      h("div", { class: "two" },
        h("section", { class: "card", "aria-labelledby": "in-h" }, h("h2", { id: "in-h" }, "Input"), schemaTable(sp.input, "Input fields")),
        h("section", { class: "card", "aria-labelledby": "out-h" }, h("h2", { id: "out-h" }, "Output"), schemaTable(sp.output, "Output fields"))),
      h("section", { class: "card", "aria-labelledby": "health-h" }, h("h2", { id: "health-h" }, "Instances"),
        healthInfo && healthInfo.instances.length
          ? table([{ label: "Instance" }, { label: "Circuit" }, { label: "Failure rate", num: true }, { label: "Outstanding", num: true }],
            healthInfo.instances.map((i) => ["#" + i.instance, i.circuit, fmt.pct(i.failure_rate), String(i.outstanding)]))
          : h("p", { class: "muted" }, "Not called on this server yet: every breaker closed.")),
      h("section", { class: "card", "aria-labelledby": "versions-h" }, h("h2", { id: "versions-h" }, "Versions"),
        table([{ label: "Version" }, { label: "Status" }], detail.versions.map((v) => [v.version, v.status]))),
    );
    const series = await api(`/stats/series?model=${encodeURIComponent(name)}`);
    lines(document.getElementById("calls-chart"), series.points, [{ key: "calls", class: "c-calls" }, { key: "errors", class: "c-errors" }], { label: `Calls of ${name} per hour` });
  } catch (error) {
    clear(box, h("p", { class: "error", role: "alert" }, problemText(error)));
  }
}
main();
