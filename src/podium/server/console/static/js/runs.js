import { api, clear, fmt, h, problemText, query, statusBadge, table } from "./app.js";

const box = document.getElementById("runs");
const params = query();
const form = document.getElementById("filters");
for (const name of ["status", "workflow", "q", "since", "until"]) {
  if (params.get(name)) form.elements[name].value = params.get(name);
}
const cursors = [null];
let page = 0;

function path(cursor) {
  const p = new URLSearchParams({ limit: "25" });
  for (const name of ["status", "workflow", "q"]) if (params.get(name)) p.set(name, params.get(name));
  for (const name of ["since", "until"]) {
    const t = params.get(name) ? Date.parse(params.get(name)) : NaN;
    if (!Number.isNaN(t)) p.set(name, String(t / 1000));
  }
  if (cursor) p.set("cursor", cursor);
  return "/runs?" + p;
}

async function load() {
  box.setAttribute("aria-busy", "true");
  try {
    const result = await api(path(cursors[page]));
    clear(box, result.items.length ? table(
      [{ label: "Run" }, { label: "Workflow" }, { label: "Status" }, { label: "Started" }, { label: "Took", num: true }, { label: "Cost", num: true }],
      result.items.map((r) => [
        h("a", { href: "/runs/" + encodeURIComponent(r.run_id) }, h("code", {}, r.run_id)),
        r.workflow, statusBadge(r.status), fmt.time(r.started_at),
        r.finished_at ? fmt.ms((r.finished_at - r.started_at) * 1000) : "–", fmt.cost(r.cost),
      ]), { caption: "Runs, newest first" }) : h("p", { class: "muted" }, "No run matches."));
    cursors[page + 1] = result.next_cursor;
    document.getElementById("next").disabled = !result.next_cursor;
    document.getElementById("prev").disabled = page === 0;
  } catch (error) {
    clear(box, h("p", { class: "error", role: "alert" }, problemText(error)));
  }
}
document.getElementById("next").addEventListener("click", () => { page += 1; load(); });
document.getElementById("prev").addEventListener("click", () => { page = Math.max(0, page - 1); load(); });
load();
