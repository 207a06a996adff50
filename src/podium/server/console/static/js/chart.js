// Small SVG charts: stacked bars (runs by status over time) and lines (calls over time).
import { h, s } from "./app.js";

const W = 960, H = 240, L = 36, B = 22, T = 8, R = 8;

function axisY(root, max) {
  for (const f of [0, 0.5, 1]) {
    const y = T + (H - T - B) * (1 - f);
    root.append(s("line", { class: "axis", x1: L, x2: W - R, y1: y, y2: y, "stroke-opacity": f ? 0.25 : 1 }));
    root.append(s("text", { x: L - 4, y: y + 4, "text-anchor": "end" }, String(Number.isInteger(max * f) ? max * f : (max * f).toFixed(1))));
  }
}

function hourLabel(t) { return new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }

export function stackedBars(container, buckets, keys, { label }) {
  const totals = buckets.map((b) => keys.reduce((a, k) => a + (b.counts[k] || 0), 0));
  const max = Math.max(1, ...totals);
  const root = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label });
  const sum = totals.reduce((a, b) => a + b, 0);
  root.append(s("title", {}, `${label}: ${sum} runs`));
  axisY(root, max);
  const slot = (W - L - R) / Math.max(1, buckets.length);
  buckets.forEach((b, i) => {
    let y = H - B;
    for (const k of keys) {
      const n = b.counts[k] || 0;
      if (!n) continue;
      const hgt = ((H - T - B) * n) / max;
      y -= hgt;
      root.append(s("rect", { class: "c-" + k, x: L + i * slot + 1, y, width: Math.max(1, slot - 2), height: hgt },
        s("title", {}, `${hourLabel(b.t)}: ${n} ${k}`)));
    }
    if (i % Math.ceil(buckets.length / 6) === 0) {
      root.append(s("text", { x: L + i * slot, y: H - 6 }, hourLabel(b.t)));
    }
  });
  const legend = h("div", { class: "legend" }, keys.map((k) => h("span", {}, h("span", { class: "swatch c-" + k }), k)));
  container.replaceChildren(root, legend);
}

export function lines(container, points, series, { label }) {
  // series: [{key, class}]
  const max = Math.max(1, ...points.flatMap((p) => series.map((x) => p[x.key] || 0)));
  const root = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label });
  root.append(s("title", {}, label));
  axisY(root, max);
  const step = (W - L - R) / Math.max(1, points.length - 1);
  for (const x of series) {
    const d = points.map((p, i) => `${i ? "L" : "M"}${L + i * step},${T + (H - T - B) * (1 - (p[x.key] || 0) / max)}`).join(" ");
    root.append(s("path", { class: x.class, d }));
  }
  points.forEach((p, i) => {
    if (i % Math.ceil(points.length / 6) === 0) root.append(s("text", { x: L + i * step, y: H - 6 }, hourLabel(p.t)));
  });
  const legend = h("div", { class: "legend" }, series.map((x) => h("span", {}, h("span", { class: "swatch " + x.class.replace("c-", "c-") }), x.key)));
  container.replaceChildren(root, legend);
}
