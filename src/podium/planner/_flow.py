"""From sub-tasks to a workflow: wire each step by data flow and the request's order.

Things a step can read are *entities*, in the order the request brings them in: the
given inputs, the inputs the request names (``example.jpg`` is an image, a quoted string
is text), and each earlier step's output. A step takes, for each type it consumes, the
inputs its own clause names first, then the most recent entity of that type ("caption
example.jpg, then translate the caption": the translation reads the caption; "classify
example.jpg and detect objects in it": both read the image, in parallel). A tool with
several inputs of one type (``text``, ``text_2``) takes that many distinct entities.

A type nothing provides yet is, without given inputs, an input of the plan (the request
speaks of it: "transcribe the recording"); otherwise the typed search finds the cheapest
steps that produce it from what is at hand ("draft a reply" needs an intent first), and
if none can, the plan is refused naming the sub-task and what it lacks.

A step that reads no earlier result is ordered after the steps before it (``after:``)
when the request says so ("then", "after that", "and finally", "using it") and its
tool takes only parameters no tool produces (an API call); independent steps stay
parallel. A step identical to an earlier one (same tool, same inputs) is that step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from podium.planner._build import Source, _Wiring, value_of
from podium.planner._decompose import SubTask
from podium.planner._graph import Operator, SignatureGraph
from podium.planner._order import Order
from podium.planner._parse import Named, Parsed
from podium.planner._search import Blocked, search

SYNONYMS: dict[str, tuple[str, ...]] = {
    "image": ("image", "picture", "photo", "img"),
    "audio": ("audio", "sound", "speech", "recording"),
    "video": ("video", "movie", "clip"),
    "text": ("text", "string", "prompt", "document", "content"),
    "url": ("url", "link", "uri", "text"),
    "email": ("email", "email_address", "to", "recipient"),
    "number": ("number", "amount", "quantity"),
    "quote": ("text", "prompt", "content", "message"),
}


def type_map(graph: SignatureGraph) -> dict[str, str]:
    """Media kind (and literal kind) -> the graph type that stands for it, if any."""
    found: dict[str, str] = {}
    for kind, names in SYNONYMS.items():
        for name in names:
            if name in graph.types:
                found[kind] = name
                break
    return found


@dataclass(frozen=True)
class Ref:
    """A value: a plan input (``step is None``) or a step's output of ``type``."""

    type: str
    step: int | None = None
    input: str | None = None


@dataclass
class Node:
    op: Operator
    refs: dict[str, list[Ref]]
    clause: SubTask | None
    after: set[int] = field(default_factory=set)
    helper: bool = False

    def key(self) -> tuple[Any, ...]:
        return (self.op.ref, tuple(sorted((t, tuple(r)) for t, r in self.refs.items())))


@dataclass
class Composed:
    """A workflow document, the operator of each step, and the phrase of each step."""

    document: dict[str, Any]
    operators: dict[str, Operator]
    outputs: tuple[str, ...]
    notes: list[str]


class Unreachable(Exception):
    """A sub-task's tool needs a type that cannot be had (``blocked`` says why)."""

    def __init__(self, task: SubTask | None, op: Operator, blocked: Blocked) -> None:
        super().__init__(op.ref)
        self.task, self.op, self.blocked = task, op, blocked


def _slots(op: Operator) -> list[tuple[str, int]]:
    """Per consumed type, how many distinct values the tool reads of it."""
    out = []
    for t in op.consumes:
        extra = [n for n in op.inputs if re.fullmatch(re.escape(t) + r"_\d+", n)]
        out.append((t, 1 + len(extra)))
    return out


def _shares(op: Operator, own: list[Ref]) -> list[list[Ref]]:
    """The clause's own inputs per step: one step for each of several inputs of a type
    the tool reads once ("download a.jpg and b.jpg": two downloads)."""
    slots = dict(_slots(op))
    for t, count in slots.items():
        of_t = [r for r in own if r.type == t]
        if count == 1 and len(of_t) > 1 and len(slots) == 1:
            return [[r] for r in of_t]
    return [own]


def _ident(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower() or "input"
    return name if name[0].isalpha() else "in_" + name


class _Composer:
    def __init__(
        self,
        graph: SignatureGraph,
        weights: Sequence[float],
        parsed: Parsed,
        given: Mapping[str, str] | None,
        max_steps: int,
    ) -> None:
        self.graph, self.weights, self.parsed = graph, weights, parsed
        self.given = given
        self.max_steps = max_steps
        self.kinds = type_map(graph)
        self.nodes: list[Node] = []
        # entities in order: (position, ref)
        self.entities: list[tuple[float, Ref]] = []
        self.inputs: dict[str, tuple[str, Named | None]] = {}
        self.named_refs: dict[int, Ref] = {}
        self.sibling: dict[str, list[Ref]] = {}  # what the last sub-task's step read
        for name, t in (given or {}).items():
            self.inputs[name] = (t, None)
            self.entities.append((-1.0, Ref(t, input=name)))
        self.mentioned = {self.kinds.get(k, k) for c in parsed.clauses for k in c.modalities}
        self.media = {self.kinds[k] for k in ("image", "audio", "video") if k in self.kinds}

    # entities -------------------------------------------------------------------------------
    def named_ref(self, named: Named) -> Ref | None:
        key = named.start
        if key in self.named_refs:
            return self.named_refs[key]
        kind = named.modality if named.kind in ("file", "quote") else named.kind
        t = self.kinds.get(kind or "text")
        if t is None:
            return None
        base = _ident(named.value if named.kind == "file" else kind or "text")
        if named.kind == "file":
            base = _ident(named.text)
        name, n = base, 2
        while name in self.inputs:
            name, n = f"{base}_{n}", n + 1
        self.inputs[name] = (t, named)
        ref = Ref(t, input=name)
        self.named_refs[key] = ref
        return ref

    def add_named(self, task: SubTask, position: float) -> list[Ref]:
        own = []
        for named in task.clause.named:
            ref = self.named_ref(named)
            if ref is not None:
                own.append(ref)
                if (position, ref) not in self.entities:
                    self.entities.append((position, ref))
        return own

    def latest(self, t: str, position: float, skip: set[Ref]) -> Ref | None:
        for pos, ref in sorted(self.entities, key=lambda e: -e[0]):
            if pos < position and ref.type == t and ref not in skip:
                return ref
        return None

    def new_input(self, t: str) -> Ref:
        base = _ident(t)
        name, n = base, 2
        while name in self.inputs:
            name, n = f"{base}_{n}", n + 1
        self.inputs[name] = (t, None)
        ref = Ref(t, input=name)
        self.entities.append((-1.0, ref))
        return ref

    def source_ref(self, t: str) -> Ref | None:
        """Without given inputs, a type no tool produces is at hand as an input."""
        if self.given is not None or t not in self.graph.sources:
            return None
        for _, ref in self.entities:
            if ref.step is None and ref.type == t:
                return ref
        return self.new_input(t)

    # steps ----------------------------------------------------------------------------------
    def add(
        self,
        op: Operator,
        refs: dict[str, list[Ref]],
        task: SubTask | None,
        position: float,
        helper: bool = False,
        out_at: float | None = None,
    ) -> int:
        node = Node(op, refs, task, helper=helper)
        for k, old in enumerate(self.nodes):
            if old.key() == node.key():
                return k
        self.nodes.append(node)
        k = len(self.nodes) - 1
        for t in op.produces:
            self.entities.append((position + 0.5 if out_at is None else out_at, Ref(t, step=k)))
        return k

    def resolve(
        self, task: SubTask | None, op: Operator, position: float, own: list[Ref]
    ) -> dict[str, list[Ref]]:
        refs: dict[str, list[Ref]] = {}
        used: set[Ref] = set()
        for t, count in _slots(op):
            found: list[Ref] = []
            for ref in own:
                if ref.type == t and ref not in used and len(found) < count:
                    found.append(ref)
                    used.add(ref)
            sibling = (
                self.sibling.get(t, []) if task is not None and task.clause.link == "par" else []
            )
            for ref in sibling:
                if ref not in used and len(found) < count:
                    found.append(ref)
                    used.add(ref)
            while len(found) < count:
                near = self.latest(t, position, used) or self.source_ref(t)
                got = near if near is not None and near not in used else None
                if got is None:
                    got = self.produce(task, op, t, position, used)
                found.append(got)
                used.add(got)
            refs[t] = found
        return refs

    def produce(
        self, task: SubTask | None, op: Operator, t: str, position: float, used: set[Ref]
    ) -> Ref:
        """A value of type ``t``: from steps the typed search adds, or a new input."""
        unused = [
            n
            for n in self.parsed.named
            if (r := self.named_ref(n)) is not None and r.type == t and r not in used
        ]
        if unused:
            return self.named_ref(unused[0]) or self.new_input(t)
        bridged = self.bridge(task, op, t, position, used) if self.given is None else None
        if bridged is not None:
            return bridged
        if self.given is None and (
            t in self.mentioned or t in self.graph.sources or t in self.kinds.values()
        ):
            return self.new_input(t)
        have = {ref.type for pos, ref in self.entities if pos < position}
        if self.given is None:
            have |= set(self.graph.sources)
        found = search(self.graph, self.weights, have, [t], max_steps=self.max_steps)
        if isinstance(found, Blocked):
            if self.given is None:
                return self.new_input(t)
            blocked = search(
                self.graph, self.weights, have, list(op.produces), max_steps=self.max_steps
            )
            raise Unreachable(task, op, blocked if isinstance(blocked, Blocked) else found)
        result: Ref | None = None
        for i in found.order:
            helper_op = self.graph.operators[i]
            refs = self.resolve(None, helper_op, position - 0.25, [])
            k = self.add(helper_op, refs, None, position - 0.25, helper=True)
            if t in helper_op.produces:
                result = Ref(t, step=k)
        return result or self.new_input(t)

    def bridge(
        self, task: SubTask | None, op: Operator, t: str, position: float, used: set[Ref]
    ) -> Ref | None:
        """A value of type ``t`` for a tool that reads only ``t``, converted from a medium
        the request names and no step reads yet ("translate what is said in example.wav":
        the recording, transcribed), by the one-step converter the clause's words favour.
        (A tool that reads a medium and a text takes the text from the request: an
        instruction or a question.)"""
        if task is None or not task.scores or set(op.consumes) != {t}:
            return None
        read = {r for node in self.nodes for refs in node.refs.values() for r in refs} | used
        own = [self.named_refs.get(n.start) for n in task.clause.named]
        waiting = [
            ref
            for pos, ref in sorted(self.entities, key=lambda e: -e[0])
            if pos <= position
            and ref.step is None
            and ref.input is not None
            and ref not in read
            and ref.type != t
            and ref.type in self.media
            and self.inputs[ref.input][1] is not None
        ]
        waiting.sort(key=lambda ref: ref not in own)
        for ref in waiting:
            converters = [
                i
                for i, op in enumerate(self.graph.operators)
                if set(op.consumes) == {ref.type} and t in op.produces
            ]
            if converters:
                best = max(converters, key=lambda i: task.scores[i])
                op = self.graph.operators[best]
                k = self.add(op, {ref.type: [ref]}, task, position - 0.25, helper=True)
                return Ref(t, step=k)
        return None

    def compose(self, tasks: Sequence[SubTask]) -> list[int]:
        """Add every sub-task's step; the index of each sub-task's node."""
        order = Order(sequenced=any(t.clause.link == "seq" for t in tasks))
        placed: list[int] = []
        for position, task in enumerate(tasks):
            own = self.add_named(task, float(position))
            if task.op is None:
                order.skip(task)
                continue
            op = self.graph.operators[task.op]
            for share in _shares(op, own):
                refs = self.resolve(task, op, float(position), share)
                before = len(self.nodes)
                k = self.add(op, refs, task, float(position))
            fresh = k >= before  # a step reused from earlier is not reordered (no cycles)
            self.sibling = refs
            for n, then in enumerate(task.follow):  # asked after its tool ("... in Spanish")
                nxt = self.graph.operators[then]
                at = position + 0.5 + 0.1 * (n + 1)
                placed.append(k)
                k = self.add(nxt, self.resolve(task, nxt, at, []), task, at, out_at=at + 0.05)
            reads_steps = any(r.step is not None for rs in refs.values() for r in rs)
            action = all(t in self.graph.sources for t in op.consumes)
            order.place(self.nodes, k, task, ordered=not reads_steps and action and fresh)
            placed.append(k)
        return placed


def _step_ids(nodes: Sequence[Node]) -> list[str]:
    counts: dict[str, int] = {}
    for node in nodes:
        for t in node.op.produces:
            counts[t] = counts.get(t, 0) + 1
    taken: set[str] = set()
    ids = []
    for node in nodes:
        first = node.op.produces[0] if node.op.produces else node.op.name
        base = (
            first
            if counts.get(first, 0) == 1
            else (node.op.capability or node.op.name).split(".")[-1]
        )
        base = re.sub(r"[^A-Za-z0-9_]", "_", base) or "step"
        if base[0].isdigit():
            base = "s_" + base
        sid, n = base, 2
        while sid in taken:
            sid, n = f"{base}_{n}", n + 1
        taken.add(sid)
        ids.append(sid)
    return ids


def compose(
    graph: SignatureGraph,
    weights: Sequence[float],
    parsed: Parsed,
    tasks: Sequence[SubTask],
    given: Mapping[str, str] | None,
    *,
    name: str,
    description: str,
    route: Mapping[str, Any] | None,
    max_steps: int = 16,
) -> Composed:
    """The workflow document for ``tasks`` (raises :class:`Unreachable`)."""
    composer = _Composer(graph, weights, parsed, given, max_steps)
    placed = composer.compose(tasks)
    nodes = composer.nodes
    order = _topological(nodes)
    ids = _step_ids([nodes[k] for k in order])
    sid = {k: ids[i] for i, k in enumerate(order)}
    render = _Render(nodes, sid, {n: t for n, (t, _) in composer.inputs.items()})
    steps = render.steps(order, composer.given, route)
    document: dict[str, Any] = {"name": name, "description": description}
    inputs = render.inputs(composer.inputs)
    if inputs:
        document["inputs"] = inputs
    document["steps"] = steps
    document["outputs"] = outputs = render.outputs(list(dict.fromkeys(placed)))
    notes = [
        f"added {nodes[k].op.ref} to provide what a later step needs"
        for k in order
        if nodes[k].helper
    ]
    return Composed(document, {sid[k]: nodes[k].op for k in order}, tuple(outputs), notes)


class _Render:
    """Nodes as workflow YAML: ``with`` expressions, ``after``, outputs and inputs."""

    def __init__(self, nodes: Sequence[Node], sid: Mapping[int, str], inputs: Mapping[str, str]):
        self.nodes, self.sid = nodes, sid
        self.wiring = _Wiring(inputs)
        self.json_types: dict[str, set[str]] = {}

    def source(self, ref: Ref, for_step: str, json_type: str) -> Source:
        if ref.step is None:
            assert ref.input is not None
            self.json_types.setdefault(ref.input, set()).add(json_type)
            return Source(f"inputs.{ref.input}")
        self.wiring.deps.setdefault(for_step, set()).add(self.sid[ref.step])
        return value_of(self.nodes[ref.step].op, self.sid[ref.step], ref.type)

    def steps(
        self, order: Sequence[int], given: Mapping[str, str] | None, route: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        sid = self.sid
        withs: dict[str, dict[str, Source] | Source] = {}
        for k in order:
            node = self.nodes[k]
            self.wiring.deps.setdefault(sid[k], set()).update(sid[a] for a in node.after)
            withs[sid[k]] = _bind(node, sid[k], self.source, given)
        by_id = {sid[k]: self.nodes[k].op for k in order}
        for step, op in by_id.items():
            bound = withs[step]
            if isinstance(bound, dict):
                self.wiring.optional(step, op, bound, by_id)
        steps: dict[str, Any] = {}
        for k in order:
            op, bound = self.nodes[k].op, withs[sid[k]]
            body: dict[str, Any] = {"workflow" if op.kind == "workflow" else "uses": op.uses}
            values = list(bound.values()) if isinstance(bound, dict) else [bound]
            body["with"] = (
                bound.expr if isinstance(bound, Source) else {f: v.expr for f, v in bound.items()}
            )
            reads = {v.step for v in values}
            after = [sid[a] for a in sorted(self.nodes[k].after) if sid[a] not in reads]
            if after:
                body["after"] = after
            if route and op.kind != "workflow":
                body["route"] = dict(route)
            steps[sid[k]] = body
        return steps

    def outputs(self, shown: Sequence[int]) -> dict[str, str]:
        """Every sub-task step's products: named by type, or by step where types repeat."""
        count: dict[str, int] = {}
        for k in shown:
            for t in self.nodes[k].op.produces:
                count[t] = count.get(t, 0) + 1
        outputs: dict[str, str] = {}
        for k in shown:
            op, step = self.nodes[k].op, self.sid[k]
            if not op.produces:  # a tool that declares no output type: its whole output
                key = step if step.isidentifier() else _ident(step)
                outputs[key] = "${{ steps." + step + ".output }}"
            for t in op.produces:
                key = t if count[t] == 1 else step if len(op.produces) == 1 else f"{step}_{t}"
                outputs[key if key.isidentifier() else _ident(key)] = value_of(op, step, t).expr
        return outputs

    def inputs(self, declared: Mapping[str, tuple[str, Named | None]]) -> dict[str, Any]:
        """Inputs some step reads; a named literal is the input's default value."""
        inputs: dict[str, Any] = {}
        for input_name, (_, named) in declared.items():
            types = self.json_types.get(input_name)
            if types is None:
                continue
            concrete = types - {"any"}
            json_type = concrete.pop() if len(concrete) == 1 else "any"
            if named is not None and json_type in ("string", "any"):
                inputs[input_name] = {"type": "string", "default": named.value}
            else:
                inputs[input_name] = json_type
        return inputs


def _topological(nodes: Sequence[Node]) -> list[int]:
    deps = [
        {r.step for rs in n.refs.values() for r in rs if r.step is not None} | n.after
        for n in nodes
    ]
    placed: list[int] = []
    left = set(range(len(nodes)))
    while left:
        ready = sorted(k for k in left if not deps[k] & left)
        if not ready:  # cannot happen: every reference points to an earlier node
            ready = [min(left)]
        placed.append(ready[0])
        left.remove(ready[0])
    return placed


def _bind(
    node: Node, step: str, source: Any, given: Mapping[str, str] | None
) -> dict[str, Source] | Source:
    """The ``with`` of one step: type-named fields, ``T_2`` fields, given names, then the
    remaining required fields in the order of the consumed types."""
    op = node.op
    fields = op.inputs
    pools = {t: list(refs) for t, refs in node.refs.items()}
    if not fields:
        return {t: source(refs[0], step, "any") for t, refs in pools.items() if refs}
    bound: dict[str, Source] = {}
    taken: dict[str, int] = {}

    def next_of(t: str) -> Ref | None:
        refs = pools.get(t) or []
        i = taken.get(t, 0)
        if i < len(refs):
            taken[t] = i + 1
            return refs[i]
        return None

    for fname, f in fields.items():
        if fname in pools and (f.required or fname in op.consumes):
            ref = next_of(fname)
            if ref is not None:
                bound[fname] = source(ref, step, f.type)
    for fname, f in fields.items():
        m = re.fullmatch(r"(.+)_(\d+)", fname)
        if fname not in bound and m and m.group(1) in pools:
            ref = next_of(m.group(1))
            if ref is not None:
                bound[fname] = source(ref, step, f.type)
    for fname, f in fields.items():
        if fname not in bound and given and fname in given:
            bound[fname] = source(Ref(given[fname], input=fname), step, f.type)
    need = [n for n, f in fields.items() if f.required and n not in bound]
    open_types = [t for t in op.consumes if taken.get(t, 0) < len(pools.get(t) or [])]
    if need and open_types:
        if len(open_types) == 1 and len(need) > 1 and not bound:
            whole = next_of(open_types[0])
            assert whole is not None
            value: Source = source(whole, step, "object")
            return value
        for fname, t in zip(need, open_types, strict=False):
            ref = next_of(t)
            if ref is not None:
                bound[fname] = source(ref, step, fields[fname].type)
    return bound
