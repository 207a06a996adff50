"""The planner facade: goal text (and/or types) in, a validated, explained workflow out.

Order of attempts for one goal:

1. a stored template of a similar goal that has run successfully (``templates``);
2. the LLM at ``PODIUM_LLM_BASE_URL``, if set (``llm``), validated and repaired;
3. the typed search over the signature graph: the default, and the fallback.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium._types import RunStatus
from podium.engine import RunResult, check_models, load_workflow, workflow_from_mapping
from podium.errors import UserError
from podium.planner._build import build, slug
from podium.planner._explain import explain
from podium.planner._graph import (
    SignatureGraph,
    WorkflowEntry,
    model_operators,
    workflow_operator,
)
from podium.planner._llm import LLMConfig, LLMError, ask, extract_json, messages
from podium.planner._match import Matcher, make_matcher, match
from podium.planner._plan import Explanation, Plan
from podium.planner._repair import Rejected, repair
from podium.planner._search import Blocked, search
from podium.planner._templates import (
    Template,
    Templates,
    input_mapping,
    rename_inputs,
    template_key,
)
from podium.planner._types import (
    CostWeights,
    Match,
    PlanConstraints,
    PlanError,
    PlanInputError,
    UnreachableError,
    closest,
    parse_given,
)
from podium.registry import Registry
from podium.store import Store

WORKFLOW_KIND = "planner.workflow"
POLICIES = ("best", "cheapest", "fastest", "balanced", "learned", "cascade")
LLM_CATALOG_LIMIT = 60
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class PlanOptions:
    """How to plan. ``matcher``: ``auto``, ``lexical`` or ``embedding``. ``llm``: ask the
    LLM (``None``: when ``PODIUM_LLM_BASE_URL`` is set). ``templates``: reuse a stored
    plan of a similar goal; ``template_threshold`` overrides the matcher's similarity
    threshold, ``min_success`` is the smoothed success rate a template needs."""

    constraints: PlanConstraints = field(default_factory=PlanConstraints)
    weights: CostWeights = field(default_factory=CostWeights)
    matcher: str = "auto"
    llm: bool | None = None
    templates: bool = True
    template_threshold: float | None = None
    min_success: float = 0.5
    max_expansions: int = 50_000


@dataclass
class _Request:
    goal: str
    given: dict[str, str] | None
    wanted: tuple[str, ...]
    matches: tuple[Match, ...]
    matcher: Matcher | None
    options: PlanOptions
    graph: SignatureGraph
    started: float
    notes: list[str] = field(default_factory=list)

    @property
    def inputs(self) -> dict[str, str]:
        """The given inputs; without any, every type no model produces, named after it."""
        if self.given is not None:
            return self.given
        return {_ident(t): t for t in sorted(self.graph.sources)}


def _ident(type_name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", type_name)
    return name if name[:1].isalpha() or name[:1] == "_" else "in_" + name


class Planner:
    """Plans goals over a registry's models and the workflows registered for planning."""

    def __init__(self, registry: Registry, store: Store) -> None:
        self.registry = registry
        self.store = store
        self.templates = Templates(store)
        self._graph: tuple[Any, SignatureGraph] | None = None
        self._matchers: dict[str, Matcher] = {}

    # workflows as steps (hierarchy) ---------------------------------------------------------
    def register_workflow(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        consumes: Sequence[str] | None = None,
        produces: Sequence[str] | None = None,
        description: str | None = None,
        encapsulate: bool = False,
    ) -> WorkflowEntry:
        """Offer a workflow file to the planner as one step (a sub-orchestrator).

        Its signature defaults to its input names and output names. ``encapsulate``
        hides the capabilities it calls from the level above, so that level is planned
        over this workflow instead of over its models.
        """
        resolved = Path(path).resolve()
        workflow = load_workflow(resolved)
        check_models(workflow, self.registry)
        entry_name = name or slug(workflow.name, limit=12)
        if not _NAME.match(entry_name):
            raise PlanInputError(f"workflow name '{entry_name}' must match [a-z0-9-]+")
        entry = WorkflowEntry(
            name=entry_name,
            path=str(resolved),
            description=description or str(workflow.document.get("description") or ""),
            consumes=tuple(consumes or workflow.inputs),
            produces=tuple(produces or workflow.outputs),
            encapsulate=encapsulate,
        )
        self.store.put_document(WORKFLOW_KIND, entry.name, entry.to_json())
        return entry

    def workflows(self) -> list[WorkflowEntry]:
        """The workflows registered for planning, by name."""
        docs = self.store.documents(WORKFLOW_KIND)
        return [WorkflowEntry.from_json(docs[k]) for k in sorted(docs)]

    def forget_workflow(self, name: str) -> None:
        self.store.delete_document(WORKFLOW_KIND, name)

    def graph(self) -> SignatureGraph:
        """The signature graph, rebuilt only when the models or workflows change."""
        entries = tuple(self.workflows())
        key = (self.registry.revision, entries)
        if self._graph is None or self._graph[0] != key:
            hidden: set[str] = set()
            flows = []
            for entry in entries:
                try:
                    op = workflow_operator(entry, load_workflow(entry.path), self.registry)
                except UserError:
                    continue  # the file moved or broke since it was registered
                if entry.encapsulate:
                    hidden.update(capability for capability, _ in op.inner)
                flows.append(op)
            self._graph = (key, SignatureGraph([*model_operators(self.registry, hidden), *flows]))
        return self._graph[1]

    # words -> types ---------------------------------------------------------------------------
    def matcher(self, kind: str = "auto") -> Matcher:
        """The matcher of that kind (one per planner, so embeddings are computed once)."""
        found = self._matchers.get(kind)
        if found is None:
            found = self._matchers[kind] = make_matcher(kind)
        return found

    def match(self, goal: str, matcher: str = "auto") -> list[Match]:
        """What ``goal`` asks for: operators and the phrases that ask for them."""
        return match(self.matcher(matcher), self.graph(), goal)

    # planning -----------------------------------------------------------------------------------
    def plan(
        self,
        goal: str = "",
        *,
        given: Mapping[str, str] | Iterable[str] | None = None,
        want: Iterable[str] | None = None,
        options: PlanOptions | None = None,
    ) -> Plan:
        """Synchronous :meth:`aplan`."""
        return asyncio.run(self.aplan(goal, given=given, want=want, options=options))

    async def aplan(
        self,
        goal: str = "",
        *,
        given: Mapping[str, str] | Iterable[str] | None = None,
        want: Iterable[str] | None = None,
        options: PlanOptions | None = None,
    ) -> Plan:
        """Plan ``goal`` (free text) and/or ``want`` (semantic types) from ``given``
        (``{name: type}`` or ``["name:type"]``; ``None`` assumes every type that no
        model produces is at hand)."""
        request = self._request(goal, given, want, options or PlanOptions())
        opts = request.options
        if opts.templates and request.goal:
            reused = self._from_template(request)
            if reused is not None:
                return reused
        config = LLMConfig.from_env()
        if opts.llm and config is None:
            raise PlanInputError("the LLM planner needs PODIUM_LLM_BASE_URL", field="--llm")
        if config is not None and opts.llm is not False and request.goal:
            planned = await self._from_llm(request, config)
            if planned is not None:
                return planned
        return self._typed(request)

    def _request(
        self,
        goal: str,
        given: Mapping[str, str] | Iterable[str] | None,
        want: Iterable[str] | None,
        options: PlanOptions,
    ) -> _Request:
        started = time.perf_counter()
        graph = self.graph()
        given_map = parse_given(given)
        wanted_explicit = tuple(dict.fromkeys(want or ()))
        for t in wanted_explicit:
            _known(t, graph, "--want")
        for t in (given_map or {}).values():
            _known(t, graph, "--given")
        if options.constraints.policy not in POLICIES:
            raise PlanInputError(
                f"unknown route policy '{options.constraints.policy}'; "
                f"expected one of {', '.join(POLICIES)}",
                field="--policy",
            )
        goal = " ".join(goal.split())
        matcher: Matcher | None = None
        matches: tuple[Match, ...] = ()
        if goal:
            kind = "lexical" if wanted_explicit and options.matcher == "auto" else options.matcher
            matcher = self.matcher(kind)
            matches = tuple(match(matcher, graph, goal))
        have = set((given_map or {}).values())
        if wanted_explicit:
            wanted = wanted_explicit
        else:
            wanted = tuple(dict.fromkeys(t for m in matches for t in m.types if t not in have))
        return _Request(goal, given_map, wanted, matches, matcher, options, graph, started)

    def _typed(self, request: _Request) -> Plan:
        graph, opts = request.graph, request.options
        if not request.wanted:
            known = ", ".join(sorted(graph.producers)[:12])
            raise PlanError(
                f"cannot tell what {request.goal!r} asks for: no capability matches it; "
                f"name the wanted types with --want (known types include {known})"
            )
        weights = [
            float("inf") if e is None else opts.weights.weigh(e.cost, e.latency_ms, e.quality)
            for e in graph.estimates(opts.constraints)
        ]
        inputs = request.inputs
        have = set(inputs.values())
        if all(t in have for t in request.wanted):
            raise PlanError("nothing to plan: every wanted type is given")
        found = search(
            graph,
            weights,
            have,
            request.wanted,
            max_steps=opts.constraints.max_steps,
            max_expansions=opts.max_expansions,
        )
        if isinstance(found, Blocked):
            raise self._unreachable(request, found)
        ops = [graph.operators[i] for i in found.order]
        if request.given is None:
            used = {t for op in ops for t in op.consumes} | set(request.wanted)
            inputs = {n: t for n, t in inputs.items() if t in used}
        name = f"plan-{slug(request.goal or '-'.join(request.wanted))}"
        built = build(
            ops,
            inputs,
            request.wanted,
            name=name,
            description=request.goal or f"produce {', '.join(request.wanted)}",
            route=opts.constraints.route_document(),
        )
        if not found.optimal:
            request.notes.append(
                f"search budget of {opts.max_expansions} states reached: this plan is "
                "valid but may not be the cheapest"
            )
        plan = self._finish(request, built.document, built.operators, "typed", found.optimal)
        limit = opts.constraints.max_cost
        if limit is not None and plan.why.cost > limit:
            raise PlanError(
                f"the cheapest plan is expected to cost {plan.why.cost:g} per run, "
                f"over max_cost {limit:g}"
            )
        return plan

    def _unreachable(self, request: _Request, blocked: Blocked) -> UnreachableError:
        parts = []
        for t in blocked.unreachable:
            phrase = next((m.phrase for m in request.matches if t in m.types), None)
            asked = f' (asked for by "{phrase}")' if phrase else ""
            hint = ", ".join(f"NAME:{m}" for m in blocked.missing[t])
            parts.append(
                f"cannot produce '{t}'{asked}: {blocked.reasons[t]}; give it with --given {hint}"
            )
        return UnreachableError("; ".join(parts), missing=blocked.missing)

    def _finish(
        self,
        request: _Request,
        document: dict[str, Any],
        operators: Mapping[str, Any],
        origin: str,
        optimal: bool = True,
        template: str | None = None,
    ) -> Plan:
        outputs = document.get("outputs") or {}
        wanted = request.wanted or tuple(outputs)
        infos, stages, cost, latency = explain(
            document["steps"],
            operators,
            outputs,
            graph=request.graph,
            constraints=request.options.constraints,
            wanted=wanted,
            matches=request.matches,
            origin=origin,
        )
        for info in infos:
            document["steps"][info.id]["description"] = (
                f"{info.why}; expected {info.model}, cost {info.cost:g}"
            )
        workflow = workflow_from_mapping(document, source=f"<{document['name']}>")
        check_models(workflow, self.registry)
        inputs = request.inputs
        explanation = Explanation(
            goal=request.goal,
            origin=origin,
            given=inputs,
            wanted=tuple(wanted),
            steps=tuple(infos),
            stages=tuple(tuple(s) for s in stages),
            cost=cost,
            latency_ms=latency,
            matches=request.matches,
            matcher=request.matcher.kind if request.matcher else None,
            optimal=optimal,
            planning_ms=(time.perf_counter() - request.started) * 1000,
            notes=tuple(request.notes),
            template=template,
            unused=tuple(n for n in inputs if n not in workflow.inputs)
            if request.given is not None
            else (),
        )
        return Plan.of(workflow, explanation)

    # templates ---------------------------------------------------------------------------------
    def _from_template(self, request: _Request) -> Plan | None:
        matcher = request.matcher or self.matcher("lexical")
        threshold = request.options.template_threshold or matcher.template_threshold
        graph = request.graph

        def accept(template: Template) -> bool:
            if request.wanted and not set(request.wanted) <= set(template.wanted):
                return False
            if input_mapping(template.given, request.given) is None:
                return False
            steps = template.document.get("steps") or {}
            return all(
                graph.operator_for(str(b.get("uses") or b.get("workflow"))) for b in steps.values()
            )

        found = self.templates.best(
            request.goal,
            matcher.similarity,
            threshold=threshold,
            min_success=request.options.min_success,
            accept=accept,
        )
        if found is None:
            return None
        template, similarity = found
        mapping = input_mapping(template.given, request.given) or {}
        document = rename_inputs(template.document, mapping)
        document["description"] = request.goal
        operators = {
            sid: graph.operator_for(str(body.get("uses") or body.get("workflow")))
            for sid, body in document["steps"].items()
        }
        wanted = request.wanted
        request.wanted = tuple(template.wanted)
        request.notes.append(
            f"reused template {template.key} instead of planning from scratch: similarity "
            f"{similarity:.2f} to {template.goals[-1]!r}, {template.successes} of "
            f"{template.runs} runs succeeded"
        )
        try:
            return self._finish(request, document, operators, "template", template=template.key)
        except UserError as exc:
            request.notes[-1] = f"template {template.key} no longer validates ({exc.message})"
            request.wanted = wanted
            return None

    def record(self, plan: Plan, result: RunResult) -> Template | None:
        """Store a finished run of ``plan`` as (or into) its template."""
        if plan.explanation is None or result.status not in (
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
        ):
            return None
        why = plan.explanation
        document = dict(plan.document)
        return self.templates.record(
            key=why.template or template_key(document),
            goal=why.goal,
            document=document,
            given={n: t for n, t in why.given.items() if n in plan.inputs},
            wanted=why.wanted,
            ok=result.ok,
            run_id=result.run_id,
            cost=result.cost,
        )

    # LLM ---------------------------------------------------------------------------------------
    async def _from_llm(self, request: _Request, config: LLMConfig) -> Plan | None:
        graph = request.graph
        operators = graph.operators
        if len(operators) > LLM_CATALOG_LIMIT:
            ranked = {m.ref for m in request.matches}
            operators = sorted(operators, key=lambda op: op.ref not in ranked)
            operators = operators[:LLM_CATALOG_LIMIT]
        chat = messages(request.goal, request.inputs, request.wanted, operators)
        try:
            reply = await ask(config, chat)
            document, ops, repairs = repair(
                extract_json(reply),
                graph,
                given=request.inputs,
                wanted=request.wanted,
                workflows={e.name: e.path for e in self.workflows()},
                name=f"plan-{slug(request.goal)}",
                description=request.goal,
            )
            request.notes.append(f"planned by the LLM at {config.base_url} ({config.model})")
            request.notes.extend(f"repaired: {r}" for r in repairs)
            return self._finish(request, document, ops, "llm")
        except LLMError as exc:
            request.notes.append(f"LLM plan not used ({exc}); planned with the typed search")
        except Rejected as exc:
            request.notes.append(
                "LLM plan rejected (" + "; ".join(exc.reasons) + "); planned with the typed search"
            )
        except UserError as exc:
            llm_notes = ("planned", "repaired")
            request.notes[:] = [n for n in request.notes if not n.startswith(llm_notes)]
            request.notes.append(
                f"LLM plan rejected ({exc.one_line()}); planned with the typed search"
            )
        return None


def _known(type_name: str, graph: SignatureGraph, option: str) -> None:
    if type_name in graph.types:
        return
    hint = closest(type_name, graph.types)
    raise PlanInputError(
        f"unknown type '{type_name}': no registered model consumes or produces it"
        + (f"; did you mean '{hint}'?" if hint else ""),
        field=option,
    )
