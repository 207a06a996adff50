// Draws a workflow graph as SVG: one focusable node per step (Enter or Space chooses it),
// edges as curves. Returns handles to change a node's state without redrawing.
import { s } from "./app.js";
import { layout } from "./layout.js";

const PAD = 12;

function clip(text, n) { return text && text.length > n ? text.slice(0, n - 1) + "…" : text || ""; }

export function drawGraph(container, steps, { onSelect, label = "Workflow graph" } = {}) {
  // steps: [{id, kind, uses, deps}]
  const ids = steps.map((st) => st.id);
  const deps = new Map(steps.map((st) => [st.id, st.deps || []]));
  const placed = layout(ids, deps);
  const width = Math.max(placed.width + 2 * PAD, 200);
  const height = Math.max(placed.height + 2 * PAD, 60);
  const root = s("svg", {
    width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": label,
  });
  const edgeLayer = s("g", { "aria-hidden": "true" });
  for (const { from, to } of placed.edges) {
    const a = placed.nodes.get(from), b = placed.nodes.get(to);
    const x1 = PAD + a.x + a.width / 2, y1 = PAD + a.y + a.height;
    const x2 = PAD + b.x + b.width / 2, y2 = PAD + b.y;
    const mid = (y1 + y2) / 2;
    edgeLayer.append(s("path", { class: "edge", d: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}` }));
  }
  root.append(edgeLayer);
  const nodes = new Map();
  const byId = new Map(steps.map((st) => [st.id, st]));
  const nodeLayer = s("g", {});
  for (const id of ids) {
    const p = placed.nodes.get(id);
    const st = byId.get(id);
    const sub = st.kind && st.kind !== "call" ? `${st.kind}${st.uses ? " · " + st.uses : ""}` : st.uses || "";
    const title = s("title", {}, `${id}: pending`);
    const g = s("g", {
      class: "node s-pending", transform: `translate(${PAD + p.x},${PAD + p.y})`,
      tabindex: "0", role: "button", "data-step": id, "aria-label": `step ${id}: pending`,
    },
    title,
    s("rect", { width: p.width, height: p.height, rx: 7 }),
    s("text", { x: 10, y: 18 }, clip(id, 20)),
    s("text", { x: 10, y: 35, class: "sub" }, clip(sub.replace("capability/", ""), 24)));
    nodes.set(id, { g, title, status: "pending", badge: null, width: p.width });
    nodeLayer.append(g);
  }
  root.append(nodeLayer);
  const choose = (event) => {
    const g = event.target.closest && event.target.closest(".node");
    if (!g) return;
    if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    select(g.dataset.step);
    if (onSelect) onSelect(g.dataset.step);
  };
  root.addEventListener("click", choose);
  root.addEventListener("keydown", choose);
  container.replaceChildren(root);
  let selected = null;
  function select(id) {
    if (selected && nodes.get(selected)) nodes.get(selected).g.classList.remove("selected");
    selected = id;
    const node = nodes.get(id);
    if (node) node.g.classList.add("selected");
  }
  function setStatus(id, status, note = "") {
    const node = nodes.get(id);
    if (!node || node.status === status) return;
    node.g.classList.replace("s-" + node.status, "s-" + status);
    node.status = status;
    const text = `step ${id}: ${status}${note ? ", " + note : ""}`;
    node.g.setAttribute("aria-label", text);
    node.title.textContent = text;
  }
  function setError(id, message) {
    const node = nodes.get(id);
    if (!node) return;
    node.g.classList.toggle("invalid", Boolean(message));
    if (node.badge) { node.badge.remove(); node.badge = null; }
    if (message) {
      node.badge = s("g", { "aria-hidden": "true" },
        s("circle", { class: "badge", cx: node.width - 8, cy: 8, r: 8 }),
        s("text", { class: "badge-text", x: node.width - 11, y: 12 }, "!"));
      node.g.append(node.badge);
      node.g.setAttribute("aria-label", `step ${id}: error: ${message}`);
      node.g.setAttribute("aria-invalid", "true");
    } else {
      node.g.setAttribute("aria-label", `step ${id}`);
      node.g.removeAttribute("aria-invalid");
    }
    node.title.textContent = message ? `${id}: ${message}` : id;
  }
  return { nodes, select, setStatus, setError, svg: root };
}
