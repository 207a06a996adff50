// A layered (Sugiyama-style) layout of a directed acyclic graph, written for the console:
// layers by longest path from the sources, a few barycentre sweeps to cut crossings,
// then coordinates. Edges go from a step to the steps that read it.

export function layout(ids, deps, { width = 150, height = 46, gapX = 28, gapY = 44 } = {}) {
  // ids: [id]; deps: Map id -> [ids it waits for]. Unknown deps are ignored.
  const known = new Set(ids);
  const parents = new Map(ids.map((id) => [id, (deps.get(id) || []).filter((d) => known.has(d) && d !== id)]));
  const children = new Map(ids.map((id) => [id, []]));
  for (const [id, ps] of parents) for (const p of ps) children.get(p).push(id);

  // layer = longest path from a source (Kahn's order; a cycle's rest goes last)
  const layer = new Map();
  const indegree = new Map(ids.map((id) => [id, parents.get(id).length]));
  const queue = ids.filter((id) => indegree.get(id) === 0);
  for (const id of queue) layer.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    for (const c of children.get(id)) {
      layer.set(c, Math.max(layer.get(c) || 0, layer.get(id) + 1));
      indegree.set(c, indegree.get(c) - 1);
      if (indegree.get(c) === 0) queue.push(c);
    }
  }
  let deepest = 0;
  for (const v of layer.values()) deepest = Math.max(deepest, v);
  for (const id of ids) if (!layer.has(id)) layer.set(id, ++deepest);

  const layers = [];
  for (const id of ids) {
    const l = layer.get(id);
    (layers[l] ||= []).push(id);
  }
  for (let l = 0; l < layers.length; l++) layers[l] ||= [];

  // barycentre sweeps: down using parents, up using children
  const pos = new Map();
  const place = (row) => row.forEach((id, i) => pos.set(id, i));
  layers.forEach(place);
  const sweep = (row, neighbours) => {
    const score = new Map();
    for (const id of row) {
      const ns = neighbours.get(id);
      score.set(id, ns.length ? ns.reduce((a, n) => a + pos.get(n), 0) / ns.length : pos.get(id));
    }
    row.sort((a, b) => score.get(a) - score.get(b));
    place(row);
  };
  for (let round = 0; round < 4; round++) {
    for (let l = 1; l < layers.length; l++) sweep(layers[l], parents);
    for (let l = layers.length - 2; l >= 0; l--) sweep(layers[l], children);
  }

  const widest = Math.max(1, ...layers.map((row) => row.length));
  const fullWidth = widest * width + (widest - 1) * gapX;
  const nodes = new Map();
  layers.forEach((row, l) => {
    const rowWidth = row.length * width + (row.length - 1) * gapX;
    const start = (fullWidth - rowWidth) / 2;
    row.forEach((id, i) => {
      nodes.set(id, { id, x: start + i * (width + gapX), y: l * (height + gapY), width, height, layer: l });
    });
  });
  const edges = [];
  for (const [id, ps] of parents) for (const p of ps) edges.push({ from: p, to: id });
  return {
    nodes, edges,
    width: fullWidth,
    height: layers.length * height + (layers.length - 1) * gapY,
  };
}
