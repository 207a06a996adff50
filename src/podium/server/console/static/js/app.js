// What every console page shares: API calls (with the session's CSRF token), building
// elements without innerHTML, formatting, and announcements for screen readers.

const meta = document.querySelector('meta[name="csrf-token"]');
export const csrf = meta ? meta.content : "";
export const can = {
  operate: document.body.dataset.operate === "1",
  admin: document.body.dataset.admin === "1",
};

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `request failed (${status})`);
    this.status = status;
    this.problem = problem || {};
  }
}

// Calls /api/v1 + path. body: a value sent as JSON, or {text, type} sent as it is.
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    if (body && body.text !== undefined && body.type) {
      init.body = body.text;
      init.headers["Content-Type"] = body.type;
    } else {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
  }
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrf;
  const response = await fetch("/api/v1" + path, init);
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text }; }
  }
  if (response.status === 401 && method === "GET") {
    location.assign("/sign-in?next=" + encodeURIComponent(location.pathname + location.search));
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// h("a", {href: "/x", class: "y"}, "text", child) -> an element; text is never parsed as HTML.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
export function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
}

export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  node.removeAttribute("aria-busy");
  return node;
}

export function announce(message) {
  const region = document.getElementById("announce");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => { region.textContent = message; }, 30);
}

export function table(columns, rows, { caption } = {}) {
  // columns: [{label, num?}], rows: arrays of cells (nodes or text)
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption ? h("caption", { class: "sr-only" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell, i) => h("td", { class: columns[i] && columns[i].num ? "num" : null }, cell)))))));
}

export const fmt = {
  cost(value) {
    if (value === null || value === undefined) return "–";
    if (value === 0) return "0";
    return value < 0.01 ? value.toPrecision(3) : value.toFixed(4);
  },
  ms(value) {
    if (value === null || value === undefined) return "–";
    return value >= 1000 ? (value / 1000).toFixed(2) + " s" : value.toFixed(value < 10 ? 2 : 1) + " ms";
  },
  pct(value) { return value === null || value === undefined ? "–" : (value * 100).toFixed(1) + "%"; },
  time(ts) { return ts ? new Date(ts * 1000).toLocaleString() : "–"; },
  clock(ts) { return ts ? new Date(ts * 1000).toLocaleTimeString() : "–"; },
  json(value) { return JSON.stringify(value, null, 2); },
};

export function statusBadge(status) {
  return h("span", { class: "status " + status }, status);
}

export function problemText(error) {
  if (error instanceof ApiError) {
    const where = error.problem.field ? ` (${error.problem.field})` : "";
    return error.message + where;
  }
  return String(error && error.message ? error.message : error);
}

export function query() { return new URLSearchParams(location.search); }
