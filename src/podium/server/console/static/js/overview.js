import { api, clear, fmt, h, problemText, table } from "./app.js";
import { stackedBars } from "./chart.js";

const STATUSES = ["succeeded", "failed", "cancelled", "waiting", "running", "pending"];

function number(label, value, href) {
  const v = h("span", { class: "value" }, value);
  return h("div", { class: "number" }, href ? h("a", { href }, v) : v, h("span", { class: "label" }, label));
}

function modelRows(items, key) {
  if (!items.length) return h("p", { class: "muted" }, "No model calls yet.");
  return table(
    [{ label: "Model" }, { label: "Calls", num: true }, { label: "Errors", num: true }, { label: key === "p95" ? "p95" : "p50", num: true }],
    items.map((m) => [h("a", { href: "/models/" + encodeURIComponent(m.model.split("@")[0]) }, m.model), m.calls, m.errors, fmt.ms(key === "p95" ? m.p95_ms : m.p50_ms)]),
  );
}

async function main() {
  const numbers = document.getElementById("numbers");
  try {
    const o = await api("/overview");
    const finished = o.totals.succeeded + o.totals.failed + o.totals.cancelled;
    clear(numbers,
      number("runs in 24 h", String(Object.values(o.totals).reduce((a, b) => a + b, 0)), "/runs"),
      number("cost today", fmt.cost(o.cost_today)),
      number("cost this week", fmt.cost(o.cost_week)),
      number(`error rate (${finished} finished)`, fmt.pct(o.error_rate)),
      number("open approvals", String(o.open_approvals), "/approvals"),
      number("breakers open", String(o.breakers_open.length)),
    );
    stackedBars(document.getElementById("runs-chart"), o.buckets, STATUSES, { label: "Runs started per hour by status" });
    clear(document.getElementById("busiest"), modelRows(o.busiest, "p50"));
    clear(document.getElementById("slowest"), modelRows(o.slowest, "p95"));
    clear(document.getElementById("breakers"), o.breakers_open.length
      ? table([{ label: "Model" }, { label: "Instance" }, { label: "State" }], o.breakers_open.map((b) => [b.model, "#" + b.instance, b.circuit]))
      : h("p", { class: "muted" }, "None: every instance called so far is healthy."));
    if (o.truncated) numbers.append(h("p", { class: "muted" }, `Counted over the newest ${o.runs_scanned} runs.`));
  } catch (error) {
    clear(numbers, h("p", { class: "error", role: "alert" }, problemText(error)));
  }
}
main();
