"""Reading workflow YAML into the IR, with errors that name the file, line and field."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from podium._limits import DEFAULT_LIMITS, Limits
from podium._yaml import line_of, load_yaml_file, plain
from podium.engine._aggregate import COMBINERS, STACKING
from podium.engine._expr import Template, compile_template
from podium.engine._ir import (
    Approval,
    ApprovalStep,
    CallStep,
    EnsembleStep,
    LoopStep,
    MapStep,
    RetryPolicy,
    Step,
    Workflow,
    WorkflowStep,
)
from podium.engine._limits_check import StepBudget, check_document
from podium.engine._placement import parse_placement
from podium.engine._validate import check_inputs_declared, check_scope
from podium.errors import ExpressionError, ModelNotFoundError, SchemaError, UserError, WorkflowError
from podium.registry import ModelRef, Schema
from podium.routing import RoutePolicy, check_route

STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
KINDS = ("uses", "map", "ensemble", "loop", "workflow", "approval")
COMMON = {"if", "with", "after", "retry", "timeout_s", "description", "name", "queue"}
PLACED = COMMON | {"executor"}  # steps that call models, or hold steps that do
ALLOWED = {
    "uses": PLACED | {"uses", "fallback", "route", "cache"},
    "map": PLACED | {"map", "concurrency", "step"},
    "ensemble": PLACED | {"ensemble", "models", "combine", "stacker", "route", "cache"},
    "loop": PLACED | {"loop"},
    "workflow": PLACED | {"workflow"},
    "approval": COMMON | {"approval"},
}
TOP_LEVEL = {"name", "description", "inputs", "steps", "outputs", "version", "executor", "queue"}
QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: An input's ``class`` (``pii``, ``phi``, ``public``): policies decide which models get it.
_DATA_CLASS = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
ROUTE_KEYS = {"policy", "max_cost", "max_latency_ms", "min_quality", "require_tags", "forbid_tags"}


class _Shared:
    """What every file of one load shares: parsed documents, built sub-workflows, limits."""

    def __init__(self, documents: dict[str, Any], limits: Limits) -> None:
        self.documents = documents
        self.unchecked = set(documents)  # handed in, not read from YAML: not measured yet
        self.built: dict[str, tuple[Workflow, int]] = {}  # key -> (workflow, step nesting)
        self.limits = limits
        self.budget = StepBudget(limits)


class _Context:
    """Where we are: the file, its raw document, and files being loaded (to catch includes)."""

    def __init__(self, source: str, doc: Any, shared: _Shared, stack: tuple[str, ...], depth: int):
        self.source = source
        self.doc = doc
        self.shared = shared
        self.documents = shared.documents
        self.stack = stack
        self.start = self.depth = self.deepest = depth  # steps nesting inside other steps

    def fail(self, message: str, path: Sequence[str | int]) -> WorkflowError:
        field = ".".join(str(p) for p in path) or None
        return WorkflowError(message, file=self.source, line=line_of(self.doc, path), field=field)


def load_workflow(
    path: str | Path,
    *,
    documents: Mapping[str, Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Workflow:
    """Load a workflow file (and the sub-workflows it names) into the IR.

    ``documents`` maps resolved file paths to already-parsed documents; a resumed run
    passes its snapshot here so it runs exactly the definition it started with.
    ``limits`` bounds the files, their documents, the step count and loop iterations.
    """
    shared = _Shared(dict(documents or {}), limits)
    return _load(str(Path(path).resolve()), str(path), shared, (), 0)


def workflow_from_snapshot(
    snapshot: Mapping[str, Any], *, limits: Limits = DEFAULT_LIMITS
) -> Workflow:
    """Rebuild the workflow a run started with, from :meth:`Workflow.snapshot`."""
    documents = dict(snapshot.get("documents") or {})
    source = snapshot.get("source") or "<workflow>"
    documents.setdefault(str(source), snapshot["document"])
    shared = _Shared(documents, limits)
    return _load(str(source), str(source), shared, (), 0)


def workflow_from_mapping(
    doc: Mapping[str, Any], *, source: str = "<workflow>", limits: Limits = DEFAULT_LIMITS
) -> Workflow:
    """Build a workflow from an in-memory mapping (e.g. made in Python or by the planner)."""
    return _load(source, source, _Shared({source: doc}, limits), (), 0)


def _load(key: str, shown: str, shared: _Shared, stack: tuple[str, ...], depth: int) -> Workflow:
    if key in stack:
        chain = " -> ".join(Path(p).name for p in (*stack, key))
        raise WorkflowError(f"sub-workflows include each other: {chain}", file=shown)
    if key in shared.built:  # included again: built once per load
        return shared.built[key][0]
    doc = shared.documents.get(key)
    if doc is None:
        file = key if Path(key).exists() else shown
        doc = load_yaml_file(file, WorkflowError, limits=shared.limits, name=shown)
        shared.documents[key] = doc
    ctx = _Context(shown, doc, shared, (*stack, key), depth)
    if key in shared.unchecked:
        shared.unchecked.discard(key)
        check_document(doc, shared.limits, ctx.fail)
    if not isinstance(doc, dict):
        raise ctx.fail("a workflow must be a mapping with 'steps'", [])
    for name in doc:
        if name not in TOP_LEVEL:
            raise ctx.fail(f"unknown field; expected one of {', '.join(sorted(TOP_LEVEL))}", [name])
    name = doc.get("name") or Path(shown).stem
    if not isinstance(name, str):
        raise ctx.fail("must be a string", ["name"])
    inputs = doc.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise ctx.fail("must be a mapping of input name -> type", ["inputs"])
    try:
        Schema.parse(_input_types(inputs), where="inputs")
    except SchemaError as exc:
        raise ctx.fail(exc.message, list((exc.field or "inputs").split("."))) from None
    for input_name, spec in inputs.items():
        data_class = spec.get("class") if isinstance(spec, Mapping) else None
        if data_class is not None and not (
            isinstance(data_class, str) and _DATA_CLASS.match(data_class)
        ):
            message = "a data class is a lower-case name such as pii, phi or public"
            raise ctx.fail(message, ["inputs", input_name, "class"])
    executor = (
        parse_placement(doc["executor"], ctx.fail, ["executor"]) if "executor" in doc else None
    )
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, dict) or not raw_steps:
        raise ctx.fail("a workflow needs a non-empty mapping of steps", ["steps"])
    steps = _steps(ctx, raw_steps, ["steps"], outer=frozenset())
    outputs: dict[str, Template] = {}
    raw_outputs = doc.get("outputs") or {}
    if not isinstance(raw_outputs, dict):
        raise ctx.fail("must be a mapping of output name -> expression", ["outputs"])
    for out_name, value in raw_outputs.items():
        outputs[out_name] = _template(ctx, value, ["outputs", out_name])
    check_scope(ctx.fail, steps, ["steps"], frozenset())
    check_inputs_declared(ctx.fail, steps, outputs, set(inputs))
    for out_name, template in outputs.items():
        unknown = sorted(template.references - set(steps))
        if unknown:
            raise ctx.fail(f"refers to unknown step '{unknown[0]}'", ["outputs", out_name])
    snapshot_docs = {k: plain(v) for k, v in shared.documents.items() if k != key}
    workflow = Workflow(
        name=name,
        steps=steps,
        inputs=plain(inputs),
        outputs=outputs,
        source=key,
        document=plain(doc),
        documents=snapshot_docs,
        display=shown,
        located=doc,
        executor=executor,
        queue=_queue(ctx, doc, []),
    )
    shared.built[key] = (workflow, ctx.deepest - ctx.start)
    return workflow


def _input_types(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Input declarations as a lite schema (``{type, default}`` mappings are allowed)."""
    types: dict[str, Any] = {}
    for name, spec in inputs.items():
        if isinstance(spec, Mapping):
            optional = "default" in spec or not spec.get("required", True)
            types[name] = str(spec.get("type", "any")) + ("?" if optional else "")
        else:
            types[name] = spec
    return types


def input_schema(workflow: Workflow) -> Schema:
    """The schema run inputs are checked against (parsed once per workflow)."""
    found: Schema | None = workflow.__dict__.get("_input_schema")
    if found is None:
        found = Schema.parse(_input_types(workflow.inputs), where="inputs")
        object.__setattr__(workflow, "_input_schema", found)
    return found


def input_defaults(workflow: Workflow) -> dict[str, Any]:
    return {
        name: spec["default"]
        for name, spec in workflow.inputs.items()
        if isinstance(spec, Mapping) and "default" in spec
    }


def _template(ctx: _Context, value: Any, path: list[str | int]) -> Template:
    try:
        return compile_template(plain(value))
    except ExpressionError as exc:
        raise ctx.fail(f"bad expression: {exc.message}", path) from None


def _steps(
    ctx: _Context, raw: Mapping[str, Any], path: list[str | int], outer: frozenset[str]
) -> dict[str, Step]:
    steps: dict[str, Step] = {}
    siblings = frozenset(raw)
    for step_id, body in raw.items():
        if not STEP_ID.match(str(step_id)):
            raise ctx.fail(
                "step ids are letters, digits, _ and - (not starting with a digit)",
                [*path, step_id],
            )
        steps[step_id] = _step(ctx, str(step_id), body, [*path, step_id], siblings, outer)
    return steps


def _step(
    ctx: _Context,
    step_id: str,
    body: Any,
    path: list[str | int],
    siblings: frozenset[str],
    outer: frozenset[str],
) -> Step:
    ctx.depth += 1
    ctx.deepest = max(ctx.deepest, ctx.depth)
    try:
        ctx.shared.budget.take(ctx.fail, path, ctx.depth)
        return _build_step(ctx, step_id, body, path, siblings, outer)
    finally:
        ctx.depth -= 1


def _build_step(  # noqa: PLR0915 - one branch per step kind, each a few lines
    ctx: _Context,
    step_id: str,
    body: Any,
    path: list[str | int],
    siblings: frozenset[str],
    outer: frozenset[str],
) -> Step:
    if not isinstance(body, dict):
        raise ctx.fail("a step must be a mapping", path)
    kinds = [k for k in KINDS if k in body]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise ctx.fail(f"a step needs exactly one of {', '.join(KINDS)} (found: {found})", path)
    kind = kinds[0]
    for key in body:
        if key not in ALLOWED[kind]:
            raise ctx.fail(f"unknown field for a '{kind}' step", [*path, key])
    common = _common(ctx, body, path)
    templates = [t for t in (common["condition"], common["with_"]) if t is not None]
    step: Step
    if kind == "uses":
        step = CallStep(
            **common,
            uses=_ref(ctx, body["uses"], [*path, "uses"]),
            fallback=tuple(
                _ref(ctx, r, [*path, "fallback", i])
                for i, r in enumerate(_list(ctx, body, "fallback", path))
            ),
            route=_route(ctx, body.get("route"), [*path, "route"]),
            cache=_bool(ctx, body, "cache", path),
        )
    elif kind == "map":
        if "step" not in body:
            raise ctx.fail("a map step needs 'step', the step to run for each item", path)
        over = _template(ctx, body["map"], [*path, "map"])
        inner = _step(ctx, step_id, body["step"], [*path, "step"], siblings, outer)
        templates.append(over)
        step = MapStep(
            **common,
            over=over,
            body=inner,
            concurrency=_int(ctx, body, "concurrency", path, default=16, minimum=1),
        )
        step = _with_deps(step, templates, siblings, extra=inner)
        return step
    elif kind == "ensemble":
        members = body.get("models", 3)
        if isinstance(members, list):
            members = tuple(_ref(ctx, r, [*path, "models", i]) for i, r in enumerate(members))
        elif not isinstance(members, int) or isinstance(members, bool) or members < 1:
            raise ctx.fail(
                "must be a positive number or a list of model references", [*path, "models"]
            )
        combine = body.get("combine", "majority")
        known = (*COMBINERS, STACKING)
        if combine not in known:
            raise ctx.fail(
                f"unknown combiner '{combine}'; expected one of {', '.join(known)}",
                [*path, "combine"],
            )
        stacker = None
        if combine == STACKING:
            if "stacker" not in body:
                raise ctx.fail(
                    "combine: stacking needs 'stacker: model/NAME', the meta-model",
                    [*path, "combine"],
                )
            if not isinstance(members, tuple):
                raise ctx.fail(
                    "stacking needs the members listed in order (the stacker was trained on them)",
                    [*path, "models"],
                )
            stacker = _ref(ctx, body["stacker"], [*path, "stacker"])
        elif "stacker" in body:
            raise ctx.fail("'stacker' only goes with combine: stacking", [*path, "stacker"])
        step = EnsembleStep(
            **common,
            uses=_ref(ctx, body["ensemble"], [*path, "ensemble"]),
            members=members,
            combine=combine,
            stacker=stacker,
            route=_route(ctx, body.get("route"), [*path, "route"]),
            cache=_bool(ctx, body, "cache", path),
        )
    elif kind == "loop":
        loop = body["loop"]
        if not isinstance(loop, dict):
            raise ctx.fail("must be a mapping with steps and max_iterations", [*path, "loop"])
        for key in loop:
            if key not in ("steps", "max_iterations", "until"):
                raise ctx.fail("unknown field for a loop", [*path, "loop", key])
        if not isinstance(loop.get("steps"), dict) or not loop["steps"]:
            raise ctx.fail("a loop needs a non-empty mapping of steps", [*path, "loop", "steps"])
        visible = outer | siblings
        inner_steps = _steps(ctx, loop["steps"], [*path, "loop", "steps"], visible)
        until = _template(ctx, loop["until"], [*path, "loop", "until"]) if "until" in loop else None
        step = LoopStep(
            **common,
            steps=inner_steps,
            until=until,
            max_iterations=_iterations(ctx, loop, [*path, "loop"]),
        )
        check_scope(ctx.fail, inner_steps, [*path, "loop", "steps"], visible | {step_id})
        outer_refs = {r for s in inner_steps.values() for r in s.refs} - set(inner_steps)
        if until is not None:
            outer_refs |= set(until.references) - set(inner_steps) - {step_id}
        return _with_deps(step, templates, siblings, extra_refs=outer_refs)
    elif kind == "workflow":
        target = body["workflow"]
        if not isinstance(target, str):
            raise ctx.fail("must be the path of a workflow file", [*path, "workflow"])
        sub_path = Path(ctx.stack[-1]).parent / target
        key = str(sub_path.resolve())
        try:
            shown = str(Path(ctx.source).parent / target)
            sub = _load(key, shown, ctx.shared, ctx.stack, ctx.depth)
        except WorkflowError as exc:
            if exc.message == "no such file":
                raise ctx.fail(
                    f"sub-workflow file '{target}' not found", [*path, "workflow"]
                ) from None
            if exc.message.startswith("sub-workflows include each other") and exc.line is None:
                raise ctx.fail(exc.message, [*path, "workflow"]) from None
            raise
        reach = ctx.depth + ctx.shared.built[key][1]
        ctx.deepest = max(ctx.deepest, reach)
        if reach > ctx.shared.limits.yaml_depth:
            what = "nesting of steps in loops, maps and sub-workflows"
            message = ctx.shared.limits.exceeded("yaml_depth", reach, what)
            raise ctx.fail(message, [*path, "workflow"])
        step = WorkflowStep(**common, path=target, workflow=sub)
    else:
        step = ApprovalStep(
            **common, approval=_approval(ctx, body["approval"], [*path, "approval"])
        )
    return _with_deps(step, templates, siblings)


def _with_deps(
    step: Step,
    templates: list[Template],
    siblings: frozenset[str],
    *,
    extra: Step | None = None,
    extra_refs: set[str] | None = None,
) -> Step:
    refs: set[str] = set(extra_refs or ())
    guarded_everywhere: set[str] | None = None
    for t in templates:
        refs |= t.references
    if extra is not None:
        refs |= set(extra.refs)
    for t in templates:
        unguarded = t.references - t.guarded
        guarded_everywhere = (guarded_everywhere or set()) | set(t.guarded)
        guarded_everywhere -= unguarded
    deps = frozenset((refs & siblings) | set(step.after))
    guarded = frozenset((guarded_everywhere or set()) & deps) - set(step.after)
    object.__setattr__(step, "refs", frozenset(refs))
    object.__setattr__(step, "deps", deps)
    object.__setattr__(step, "guarded", guarded)
    return step


def _common(ctx: _Context, body: Mapping[str, Any], path: list[str | int]) -> dict[str, Any]:
    condition = _template(ctx, body["if"], [*path, "if"]) if "if" in body else None
    with_ = _template(ctx, body["with"], [*path, "with"]) if "with" in body else None
    if (
        "with" in body
        and not isinstance(body["with"], dict)
        and not (isinstance(body["with"], str) and "${{" in body["with"])
    ):
        raise ctx.fail("must be a mapping of input field -> value", [*path, "with"])
    after = tuple(str(a) for a in _list(ctx, body, "after", path))
    timeout = body.get("timeout_s")
    if timeout is not None and (
        not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0
    ):
        raise ctx.fail("must be a positive number of seconds", [*path, "timeout_s"])
    return {
        "id": str(path[-1]),
        "line": line_of(ctx.doc, path),
        "condition": condition,
        "with_": with_,
        "after": after,
        "retry": _retry(ctx, body.get("retry"), [*path, "retry"]),
        "timeout_s": float(timeout) if timeout is not None else None,
        "executor": (
            parse_placement(body["executor"], ctx.fail, [*path, "executor"])
            if "executor" in body
            else None
        ),
        "queue": _queue(ctx, body, path),
    }


def _queue(ctx: _Context, body: Mapping[str, Any], path: list[str | int]) -> str | None:
    raw = body.get("queue")
    if raw is None:
        return None
    if not isinstance(raw, str) or not QUEUE_NAME.match(raw):
        raise ctx.fail(
            "must be a queue name: lower-case letters, digits, '-' and '_'", [*path, "queue"]
        )
    return raw


def _retry(ctx: _Context, raw: Any, path: list[str | int]) -> RetryPolicy:
    if raw is None:
        return RetryPolicy()
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"attempts": raw}
    if not isinstance(raw, dict):
        raise ctx.fail("must be a number of attempts or {attempts, backoff_s}", path)
    allowed = {"attempts", "backoff_s", "max_backoff_s", "jitter"}
    for key, value in raw.items():
        if key not in allowed:
            raise ctx.fail(f"unknown field; expected {', '.join(sorted(allowed))}", [*path, key])
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ctx.fail("must be a non-negative number", [*path, key])
    if raw.get("attempts", 1) < 1 or int(raw.get("attempts", 1)) != raw.get("attempts", 1):
        raise ctx.fail("must be a whole number, at least 1", [*path, "attempts"])
    limits = ctx.shared.limits
    if raw.get("attempts", 1) > limits.retry_attempts:
        message = limits.exceeded("retry_attempts", int(raw["attempts"]), "retry attempts")
        raise ctx.fail(message, [*path, "attempts"])
    if raw.get("jitter", 0.2) > 1:
        raise ctx.fail("must be a fraction from 0 to 1", [*path, "jitter"])
    return RetryPolicy(
        attempts=int(raw.get("attempts", 1)),
        backoff_s=float(raw.get("backoff_s", 0.0)),
        max_backoff_s=float(raw.get("max_backoff_s", 30.0)),
        jitter=float(raw.get("jitter", 0.2)),
    )


def _route(ctx: _Context, raw: Any, path: list[str | int]) -> RoutePolicy:
    if raw is None:
        return RoutePolicy()
    if isinstance(raw, str):
        raw = {"policy": raw}
    if not isinstance(raw, dict):
        raise ctx.fail("must be a policy name or a mapping", path)
    options = {k: plain(v) for k, v in raw.items() if k not in ROUTE_KEYS}
    for key in ("max_cost", "max_latency_ms", "min_quality"):
        if key in raw and (not isinstance(raw[key], int | float) or isinstance(raw[key], bool)):
            raise ctx.fail("must be a number", [*path, key])
    policy = raw.get("policy", "best")
    if not isinstance(policy, str):
        raise ctx.fail("must be a policy name", [*path, "policy"])
    route = RoutePolicy(
        policy=policy,
        max_cost=raw.get("max_cost"),
        max_latency_ms=raw.get("max_latency_ms"),
        min_quality=raw.get("min_quality"),
        require_tags=tuple(raw.get("require_tags") or ()),
        forbid_tags=tuple(raw.get("forbid_tags") or ()),
        options=options,
    )
    problem = check_route(route)
    if problem is not None:
        raise ctx.fail(problem[1], [*path, problem[0]])
    return route


def _approval(ctx: _Context, raw: Any, path: list[str | int]) -> Approval:
    if raw is True or raw is None:
        return Approval()
    if not isinstance(raw, dict):
        raise ctx.fail("must be a mapping with prompt, approvers, timeout_s", path)
    for key in raw:
        if key not in ("prompt", "approvers", "timeout_s"):
            raise ctx.fail("unknown field for an approval", [*path, key])
    timeout = raw.get("timeout_s")
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise ctx.fail("must be a positive number of seconds", [*path, "timeout_s"])
    return Approval(
        prompt=str(raw.get("prompt", "Approve?")),
        approvers=tuple(str(a) for a in raw.get("approvers") or ()),
        timeout_s=float(timeout) if timeout is not None else None,
    )


def _ref(ctx: _Context, raw: Any, path: list[str | int]) -> ModelRef:
    if not isinstance(raw, str):
        raise ctx.fail("must be model/NAME[@VERSION] or capability/NAME", path)
    try:
        return ModelRef.parse(raw)
    except ModelNotFoundError as exc:
        raise ctx.fail(exc.message, path) from None


def _list(ctx: _Context, body: Mapping[str, Any], key: str, path: list[str | int]) -> list[Any]:
    value = body.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ctx.fail("must be a list", [*path, key])
    return value


def _bool(ctx: _Context, body: Mapping[str, Any], key: str, path: list[str | int]) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise ctx.fail("must be true or false", [*path, key])
    return value


def _int(
    ctx: _Context,
    body: Mapping[str, Any],
    key: str,
    path: list[str | int],
    *,
    default: int | None,
    minimum: int,
) -> int:
    value = body.get(key, default)
    if value is None:
        raise ctx.fail("is required", [*path, key])
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ctx.fail(f"must be a whole number, at least {minimum}", [*path, key])
    return value


def _iterations(ctx: _Context, loop: Mapping[str, Any], path: list[str | int]) -> int:
    value = _int(ctx, loop, "max_iterations", path, default=None, minimum=1)
    ctx.shared.budget.iterations(ctx.fail, [*path, "max_iterations"], value)
    return value


Fail = Callable[[str, list[str | int]], UserError]
