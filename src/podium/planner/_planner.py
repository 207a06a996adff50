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
from pathlib import Path
from typing import Any

from podium._types import RunStatus
from podium.engine import RunResult, check_models, load_workflow, workflow_from_mapping
from podium.errors import UserError
from podium.planner._build import build, slug
from podium.planner._decompose import describe, no_tool
from podium.planner._explain import explain
from podium.planner._flow import Unreachable, compose
from podium.planner._glossary import BUILTIN
from podium.planner._graph import (
    SignatureGraph,
    WorkflowEntry,
    model_operators,
    workflow_operator,
)
from podium.planner._llm import LLMConfig
from podium.planner._match import Matcher, make_matcher, match
from podium.planner._plan import Explanation, Plan
from podium.planner._request import PlanOptions, Request, make_request, unreachable
from podium.planner._reuse import from_llm, from_template
from podium.planner._search import Blocked, search
from podium.planner._templates import Template, Templates, template_key
from podium.planner._types import Match, PlanError, PlanInputError
from podium.registry import Registry
from podium.store import Store

WORKFLOW_KIND = "planner.workflow"
CAPABILITY_KIND = "planner.capability"
NOTE_CONFIDENCE = 0.2  # a clause left without a tool is noted when it came this close
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class Planner:
    """Plans goals over a registry's models and the workflows registered for planning."""

    def __init__(self, registry: Registry, store: Store, *, builtin_descriptions: bool = True):
        self.registry = registry
        self.store = store
        self.builtin_descriptions = builtin_descriptions
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

    # capability descriptions ----------------------------------------------------------------
    def describe_capability(self, capability: str, text: str) -> None:
        """Say what ``capability`` is for, in the words people ask with (for matching)."""
        self.store.put_document(CAPABILITY_KIND, capability, {"text": text})

    def capability_descriptions(self) -> dict[str, str]:
        """Built-in descriptions, overridden by those given to :meth:`describe_capability`."""
        found = dict(BUILTIN) if self.builtin_descriptions else {}
        for name, doc in self.store.documents(CAPABILITY_KIND).items():
            found[name] = str(doc.get("text", ""))
        return found

    def graph(self) -> SignatureGraph:
        """The signature graph, rebuilt only when models, workflows or descriptions change."""
        entries = tuple(self.workflows())
        descriptions = self.capability_descriptions()
        key = (self.registry.revision, entries, tuple(sorted(descriptions.items())))
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
            models = model_operators(self.registry, hidden, descriptions)
            self._graph = (key, SignatureGraph([*models, *flows]))
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
        request = make_request(self, goal, given, want, options or PlanOptions())
        opts = request.options
        if opts.templates and request.goal:
            reused = from_template(self, request)
            if reused is not None:
                return reused
        config = LLMConfig.from_env()
        if opts.llm and config is None:
            raise PlanInputError("the LLM planner needs PODIUM_LLM_BASE_URL", field="--llm")
        if config is not None and opts.llm is not False and request.goal:
            planned = await from_llm(self, request, config)
            if planned is not None:
                return planned
        return self._typed(request)

    def _typed(self, request: Request) -> Plan:
        if request.parsed is not None:
            if any(t.op is not None for t in request.tasks):
                composed = self._composed(request)
                if composed is not None:
                    return composed
            else:
                raise no_tool(request.graph, request.tasks, request.goal)
        return self._searched(request)

    def _composed(self, request: Request) -> Plan | None:
        """The plan from the request's sub-tasks, wired by data flow and order."""
        graph, opts = request.graph, request.options
        assert request.parsed is not None
        weights = graph.weights(opts.constraints, opts.weights)
        try:
            composed = compose(
                graph,
                weights,
                request.parsed,
                request.tasks,
                request.given,
                name=f"plan-{slug(request.goal)}",
                description=request.goal,
                route=opts.constraints.route_document(),
                max_steps=opts.constraints.max_steps,
            )
        except Unreachable as exc:
            raise unreachable(request, exc.blocked) from None
        if len(composed.document["steps"]) > opts.constraints.max_steps:
            raise PlanError(
                f"no plan fits in {opts.constraints.max_steps} steps "
                f"(the request needs {len(composed.document['steps'])})"
            )
        for task in request.tasks:
            if task.op is None and task.candidates and task.confidence >= NOTE_CONFIDENCE:
                request.notes.append(
                    f"no step for {describe(graph, task)}: below the match threshold"
                )
        request.notes.extend(composed.notes)
        request.wanted = composed.outputs
        try:
            plan = self.finish(request, composed.document, composed.operators, "typed")
        except UserError as exc:  # never emit a plan the validator rejects
            request.notes.append(f"the composed plan did not validate ({exc.message})")
            request.wanted = tuple(dict.fromkeys(t for m in request.matches for t in m.types))
            return None
        limit = opts.constraints.max_cost
        if limit is not None and plan.why.cost > limit:
            raise PlanError(
                f"the plan is expected to cost {plan.why.cost:g} per run, over max_cost {limit:g}"
            )
        return plan

    def _searched(self, request: Request) -> Plan:
        graph, opts = request.graph, request.options
        if not request.wanted:
            known = ", ".join(sorted(graph.producers)[:12])
            raise PlanError(
                f"cannot tell what {request.goal!r} asks for: no capability matches it; "
                f"name the wanted types with --want (known types include {known})"
            )
        weights = graph.weights(opts.constraints, opts.weights)
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
            budget_s=None if opts.search_budget_ms is None else opts.search_budget_ms / 1000,
        )
        if isinstance(found, Blocked):
            raise unreachable(request, found)
        if len(found.order) > opts.constraints.max_steps:
            raise PlanError(
                f"no plan fits in {opts.constraints.max_steps} steps "
                f"(the cheapest found needs {len(found.order)})"
            )
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
                f"search budget reached after {found.expanded} states: this plan is valid "
                "but may not be the cheapest"
            )
        plan = self.finish(request, built.document, built.operators, "typed", found.optimal)
        limit = opts.constraints.max_cost
        if limit is not None and plan.why.cost > limit:
            raise PlanError(
                f"the cheapest plan is expected to cost {plan.why.cost:g} per run, "
                f"over max_cost {limit:g}"
            )
        return plan

    def finish(
        self,
        request: Request,
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
        if request.given is None:
            inputs = {n: t for n, t in inputs.items() if n in workflow.inputs}
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
            planning_ms=(time.perf_counter() - request.started - request.matching_s) * 1000,
            matching_ms=request.matching_s * 1000,
            notes=tuple(request.notes),
            template=template,
            unused=tuple(n for n in inputs if n not in workflow.inputs)
            if request.given is not None
            else (),
        )
        return Plan.of(workflow, explanation)

    # templates ---------------------------------------------------------------------------------
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
