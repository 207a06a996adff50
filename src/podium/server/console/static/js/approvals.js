import { announce, api, can, clear, fmt, h, problemText } from "./app.js";

const box = document.getElementById("approvals");

function decide(item, card, approved) {
  return async () => {
    const comment = card.querySelector("textarea").value;
    const out = card.querySelector(".result");
    try {
      await api(`/runs/${encodeURIComponent(item.run_id)}/approvals/${encodeURIComponent(item.step)}`,
        { method: "POST", body: { approved, comment: comment || null } });
      const verdict = approved ? "Approved" : "Rejected";
      clear(out, `${verdict}. `, h("a", { href: "/runs/" + encodeURIComponent(item.run_id) }, "Watch the run continue"));
      card.querySelectorAll("button, textarea").forEach((el) => { el.disabled = true; });
      announce(`${verdict} ${item.step} of run ${item.run_id}`);
    } catch (error) {
      clear(out, h("span", { class: "error" }, problemText(error)));
    }
  };
}

async function card(item, n) {
  const run = await api("/runs/" + encodeURIComponent(item.run_id)).catch(() => null);
  const done = run ? run.steps.filter((st) => st.status === "succeeded").map((st) => st.step) : [];
  const id = `approval-${n}`;
  const node = h("article", { class: "card approval", "aria-labelledby": id + "-h" },
    h("h2", { id: id + "-h" }, item.prompt || "Approve?"),
    h("dl", { class: "kv" },
      h("dt", {}, "Run"), h("dd", {}, h("a", { href: "/runs/" + encodeURIComponent(item.run_id) }, h("code", {}, item.run_id)), ` (${item.workflow})`),
      h("dt", {}, "Step"), h("dd", {}, item.step),
      h("dt", {}, "Asked"), h("dd", {}, fmt.time(item.requested_at)),
      h("dt", {}, "Who decides"), h("dd", {}, item.approvers.length ? item.approvers.join(", ") : "any operator"),
      h("dt", {}, "Finished steps"), h("dd", {}, done.join(", ") || "none")),
    h("details", {}, h("summary", {}, "The data behind it"),
      h("h3", {}, "Run inputs"), h("pre", {}, fmt.json(run ? run.inputs : {})),
      h("h3", {}, "Steps so far"), h("pre", {}, fmt.json(run ? run.steps : []))),
  );
  if (can.operate) {
    node.append(
      h("label", { for: id + "-c" }, "Comment"),
      h("textarea", { id: id + "-c", rows: 2 }),
      h("div", { class: "row" },
        h("button", { type: "button", class: "primary", onclick: decide(item, node, true) }, `Approve ${item.step}`),
        h("button", { type: "button", class: "danger", onclick: decide(item, node, false) }, `Reject ${item.step}`)),
    );
  }
  node.append(h("p", { class: "result", role: "status" }));
  return node;
}

async function main() {
  try {
    const items = await api("/approvals");
    if (!items.length) { clear(box, h("p", { class: "card muted" }, "Nothing waits for a decision.")); return; }
    clear(box, ...(await Promise.all(items.map(card))));
  } catch (error) {
    clear(box, h("p", { class: "error", role: "alert" }, problemText(error)));
  }
}
main();
