"""The facade: one object that wires the registry, router, adapters, store and engine."""

from __future__ import annotations

import dataclasses
import inspect
import weakref
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from podium._config import Settings
from podium._context import Caller
from podium._limits import Limits
from podium._loops import LoopRunners
from podium._signature import input_schema_of, output_schema_of
from podium.adapters import AdapterEnv, AdapterPool
from podium.engine import (
    Interceptor,
    Runner,
    RunResult,
    Workflow,
    cancel_run,
    check_models,
    decide_approval,
    load_workflow,
    repair_run,
    workflow_from_mapping,
)
from podium.engine._cache import WorkflowCache, checked_object, mark_checked
from podium.engine._calls import ModelCaller
from podium.engine._control import Repair, live_owner, requeue_run
from podium.engine._journal import Observer, WritePolicy
from podium.engine._queue import QueueBindings, queue_for
from podium.registry import ModelSpec, Registry
from podium.routing import AdaptiveRouter, Router
from podium.store import MemoryStore, RunFilter, RunRecord, Store, open_store

if TYPE_CHECKING:
    from podium.governance import Policy
    from podium.planner import Plan, Planner, PlanOptions

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class Orchestrator:
    """Registers models, validates and runs workflows, and answers questions about runs.

    ``home`` defaults to ``$PODIUM_HOME`` (else ``./.podium``), the database to
    ``$PODIUM_DATABASE_URL`` (else SQLite in the home folder). ``durable=False`` keeps
    everything in memory (no event log on disk). ``policy`` (a file, a loaded
    :class:`~podium.governance.Policy`, else ``$PODIUM_POLICY``) is applied before every
    model call; ``audit=False`` (or ``PODIUM_AUDIT=off``) keeps no audit log.
    """

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        database_url: str | None = None,
        durable: bool = True,
        discover: bool = True,
        router: Callable[[Registry], Router] = AdaptiveRouter,
        interceptors: Sequence[Interceptor] = (),
        observers: Sequence[Observer] = (),
        store: Store | None = None,
        write_policy: WritePolicy | None = None,
        limits: Limits | None = None,
        policy: str | Path | Policy | None = None,
        audit: bool | None = None,
    ) -> None:
        self.settings = Settings.from_env(home, database_url)
        if audit is not None:
            self.settings = dataclasses.replace(self.settings, audit=audit)
        if limits is not None:
            self.settings = dataclasses.replace(self.settings, limits=limits)
        self._owns_store = store is None
        if store is None:
            # A store that dies with the process keeps an audit log only when asked for
            # one: the log could prove nothing afterwards, and would grow for as long as
            # the process lives.
            ephemeral = not durable or self.settings.database_url in (None, "memory")
            keep = self.settings.audit if not ephemeral else bool(audit)
            store = (
                open_store(
                    self.settings.database_url,
                    synchronous=self.settings.sqlite_synchronous,
                    audit=keep,
                )
                if durable
                else MemoryStore(audit=keep)
            )
        self.store: Store = store
        self.registry = Registry(self.store)
        if discover:
            self.registry.discover()
        self.router = router(self.registry)
        self.adapters = AdapterPool(
            AdapterEnv(
                self.settings.home,
                self.registry.implementation,
                ray_address=self.settings.ray_address,
            )
        )
        self.caller = ModelCaller(self.adapters, self.router, self.store, interceptors)
        self.runner = Runner(
            self.store,
            self.registry,
            self.router,
            self.caller,
            observers,
            limits=self.settings.limits,
            write_policy=write_policy or WritePolicy(budget_s=self.settings.write_retry_s),
            placement=self.settings.placement,
        )
        self._workflows = WorkflowCache()
        self._loops = LoopRunners()
        self._finalizer = weakref.finalize(self, self._loops.close)
        self.policy: Policy | None = None
        chosen = policy if policy is not None else self.settings.policy
        if chosen is not None:
            self.use_policy(chosen)

    def use_policy(self, policy: str | Path | Policy) -> Policy:
        """Apply ``policy`` (a file or a loaded one) before every model call from now on,
        in place of the one applied so far; the change is recorded in the audit log."""
        from podium.governance import PolicyGate, load_policy, record_activation

        loaded = policy if not isinstance(policy, str | Path) else load_policy(policy)
        if self.settings.policy_dry_run and not loaded.dry_run:
            loaded = dataclasses.replace(loaded, dry_run=True)
        record_activation(self.store, loaded)
        gate = self.__dict__.get("_policy_gate")
        if gate is None:
            self._policy_gate = PolicyGate(loaded, self.store)
            self.add_interceptor(self._policy_gate, outermost=True)
        else:
            gate.policy = loaded
        self.policy = loaded
        return loaded

    def add_interceptor(self, interceptor: Interceptor, *, outermost: bool = False) -> None:
        """Wrap every model call made from now on in ``interceptor`` (after construction:
        a server adds its metrics and tracing this way). It goes innermost, nearest the
        model, unless ``outermost``."""
        self.caller.add_interceptor(interceptor, outermost=outermost)

    def add_observer(self, observer: Observer) -> None:
        """Tell ``observer`` every event of the runs started or resumed from now on, once
        written (``observer(run_id, event)``; one that raises is logged, never fatal)."""
        self.runner.observers.append(observer)

    # models ----------------------------------------------------------------------------------
    @overload
    def model(self, fn: F) -> F: ...
    @overload
    def model(self, fn: None = None, **options: Any) -> Callable[[F], F]: ...

    def model(self, fn: F | None = None, **options: Any) -> F | Callable[[F], F]:
        """Register a function (or a class with ``predict``/``__call__``) as a model.

        Options are manifest fields (``capabilities``, ``version``, ``cost``, ``quality``,
        ...). The name defaults to the function's with ``_`` turned into ``-``; the input
        schema comes from the signature, the output schema from a TypedDict or pydantic
        return annotation.
        """

        def register(target: F) -> F:
            self.register_callable(target, **options)
            return target

        return register(fn) if fn is not None else register

    def register_callable(self, target: Callable[..., Any], **options: Any) -> ModelSpec:
        """Register ``target`` with manifest fields ``options``; returns its spec."""
        name = options.pop("name", None) or target.__name__.replace("_", "-").lower()
        inline = options.pop("inline", None)
        runtime: dict[str, Any] = {"kind": "python", "inline": inline}
        module = getattr(target, "__module__", "__main__")
        if module != "__main__" and "<locals>" not in getattr(target, "__qualname__", "<locals>"):
            runtime["target"] = f"{module}:{target.__qualname__}"
        manifest: dict[str, Any] = {
            "name": name,
            "version": options.pop("version", "0.1.0"),
            "description": options.pop("description", None) or inspect.getdoc(target) or "",
            "input": options.pop("input", None) or input_schema_of(target),
            "output": options.pop("output", None) or output_schema_of(target),
            "runtime": runtime,
            **options,
        }
        from podium.adapters._python import as_callable
        from podium.registry import spec_from_mapping

        implementation = as_callable(target)
        spec = spec_from_mapping(manifest, source=f"{module}.{target.__qualname__}")
        return self.registry.register(spec, implementation=implementation)

    def register(self, source: str | Path | ModelSpec | Mapping[str, Any]) -> list[ModelSpec]:
        """Register a manifest file or folder, a :class:`ModelSpec`, or a manifest mapping."""
        if isinstance(source, ModelSpec):
            return [self.registry.register(source)]
        if isinstance(source, Mapping):
            from podium.registry import spec_from_mapping

            return [self.registry.register(spec_from_mapping(dict(source)))]
        return self.registry.register_path(source, limits=self.settings.limits)

    # workflows ---------------------------------------------------------------------------------
    def load(self, workflow: str | Path | Workflow | Mapping[str, Any]) -> Workflow:
        """Load and fully validate a workflow against the registered models.

        Files and mappings are parsed and validated once: the result is kept (bounded,
        least recently used first) until a file changes or a model is registered.
        """
        registry = self.registry
        token = (id(registry), registry.revision)

        def check(loaded: Workflow) -> None:
            check_models(loaded, registry)

        if isinstance(workflow, Workflow):
            return checked_object(workflow, token, check)
        limits = self.settings.limits
        if isinstance(workflow, Mapping):
            doc = workflow
            found = self._workflows.mapping(
                doc,
                registry.revision,
                lambda: workflow_from_mapping(doc, limits=limits),
                check,
            )
        else:
            path = workflow
            found = self._workflows.file(
                path, registry.revision, lambda: load_workflow(path, limits=limits), check
            )
        return mark_checked(found, token)

    async def arun(
        self,
        workflow: str | Path | Workflow | Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        caller: Caller | None = None,
    ) -> RunResult:
        """Run a workflow to completion (or until it waits for approval).

        ``caller`` says who asks (principal, tenant, headers, trace ids); every model call
        of the run sees it, and the run's record keeps its principal and tenant.
        """
        loaded = self.load(workflow)
        return await self.runner.start(loaded, dict(inputs or {}), run_id=run_id, caller=caller)

    def run(
        self,
        workflow: str | Path | Workflow | Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        caller: Caller | None = None,
    ) -> RunResult:
        """Synchronous :meth:`arun`."""
        return self._sync(self.arun(workflow, inputs, run_id=run_id, caller=caller))

    def submit(
        self,
        workflow: str | Path | Workflow | Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
        run_id: str | None = None,
        caller: Caller | None = None,
    ) -> str:
        """Queue a run for a worker (``podium worker``) and return its id at once.

        The workflow and inputs are checked now; the run is stored ``pending`` in ``queue``
        (default: the workflow's ``queue:``, its steps' queues, or a queue bound to a tag or
        capability its models have; else ``default``). Follow it with :meth:`get_run`.
        """
        loaded = self.load(workflow)
        chosen = queue or self.queue_of(loaded, caller)
        record = self.runner.submit(
            loaded, dict(inputs or {}), queue=chosen, run_id=run_id, caller=caller
        )
        return record.run_id

    async def asubmit(
        self,
        workflow: str | Path | Workflow | Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
        run_id: str | None = None,
        caller: Caller | None = None,
    ) -> str:
        """Asynchronous :meth:`submit` (a few reads and one write)."""
        return self.submit(workflow, inputs, queue=queue, run_id=run_id, caller=caller)

    def queue_of(self, workflow: Workflow, caller: Caller | None = None) -> str:
        """The queue a submitted run of ``workflow`` goes to (see :func:`queue_for`)."""
        bindings = QueueBindings.load(self.store)
        return queue_for(
            workflow, self.registry, bindings, tenant=caller.tenant if caller else None
        )

    async def aresume(
        self, run_id: str, *, force: bool = False, by: Caller | None = None
    ) -> RunResult:
        """Continue a run whose process died, or that waited for approval.

        A run that another live process is driving is refused unless ``force``.
        """
        return await self.runner.resume(run_id, force=force, by=by)

    def resume(self, run_id: str, *, force: bool = False, by: Caller | None = None) -> RunResult:
        """Synchronous :meth:`aresume`."""
        return self._sync(self.aresume(run_id, force=force, by=by))

    def approve(
        self,
        run_id: str,
        step: str,
        *,
        approved: bool = True,
        by: str = "user",
        comment: str | None = None,
    ) -> RunResult:
        """Decide a waiting approval, then continue the run.

        A second decision for the same step is refused naming the first. If a live process
        is driving the run, that process picks the decision up and goes on: the result then
        has status ``running`` and ``driver`` names it.
        """
        return self._sync(self.aapprove(run_id, step, approved=approved, by=by, comment=comment))

    async def aapprove(
        self,
        run_id: str,
        step: str,
        *,
        approved: bool = True,
        by: str = "user",
        comment: str | None = None,
    ) -> RunResult:
        """Asynchronous :meth:`approve`."""
        decide_approval(self.store, run_id, step, approved=approved, by=by, comment=comment)
        return await self._continue(run_id)

    async def _continue(self, run_id: str) -> RunResult:
        """Resume a run after a decision, or leave it to the live process driving it."""
        from podium.errors import InvalidStateError

        record = self.store.run(run_id)
        holder = live_owner(record, run_id) if record is not None else None
        if holder is None and record is not None and record.queue is not None:
            # a submitted run goes back to its queue: a worker of that queue continues it
            queue = requeue_run(self.store, run_id)
            found = self.get_run(run_id)
            found.driver = f"a worker of queue '{queue}'"
            return found
        if holder is None:
            try:
                return await self.runner.resume(run_id)
            except InvalidStateError:
                brief = self.store.run_brief(run_id)
                holder = live_owner(brief, run_id) if brief is not None else None
                if holder is None:
                    raise
        found = self.get_run(run_id)
        found.driver = holder
        return found

    def repair(self, run_id: str) -> Repair:
        """Quarantine the events of a run's log that cannot have happened, so it reads again."""
        return repair_run(self.store, run_id)

    async def arepair(self, run_id: str) -> Repair:
        """Asynchronous :meth:`repair` (one short write)."""
        return self.repair(run_id)

    def cancel(self, run_id: str, *, by: str | None = None) -> RunRecord:
        """Cancel a run (``by``: who asks, for the audit log); a process still running it
        stops within a fraction of a second."""
        return cancel_run(self.store, run_id, by=by)

    async def acancel(self, run_id: str, *, by: str | None = None) -> RunRecord:
        """Asynchronous :meth:`cancel` (one claim and one write; the driver stops itself)."""
        return self.cancel(run_id, by=by)

    def runs(self, limit: int = 50, *, where: RunFilter | None = None) -> list[RunRecord]:
        """Stored runs, newest first (``where`` filters by status, workflow, tenant, time)."""
        return self.store.runs(limit, where=where)

    async def aruns(self, limit: int = 50, *, where: RunFilter | None = None) -> list[RunRecord]:
        """Asynchronous :meth:`runs`."""
        return self.runs(limit, where=where)

    def get_run(self, run_id: str) -> RunResult:
        """A stored run's result, rebuilt from its event log."""
        return self.runner.result(run_id)

    async def aget_run(self, run_id: str) -> RunResult:
        """Asynchronous :meth:`get_run`."""
        return self.get_run(run_id)

    def _sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this thread's event loop, kept from one call to the next."""
        return self._loops.run(coro)

    def close(self) -> None:
        """Release the worker threads, event loops and HTTP connections, and the database
        connection if this object opened it."""
        self._loops.run_here(self.adapters.env.close_http)
        self._finalizer()
        self.adapters.close_executors()
        self.router.close()  # its last statistics go to the store before the store closes
        self.adapters.env.threads.shutdown(wait=False, cancel_futures=True)
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def feedback(self, run_id: str, step: str, score: float) -> None:
        """Judge the answer a step gave, from 0 (wrong) to 1 (right); routing learns from it.

        The score refines the answering model's quality estimate for its capability and,
        for a ``learned`` step, the posterior for that request's context. Judging the same
        step again replaces the earlier score.
        """
        from podium.errors import InvalidStateError, UserError

        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise UserError(f"a feedback score is a number from 0 to 1, not {score!r}")
        model = next((s["model"] for s in self.get_run(run_id).steps if s["step"] == step), None)
        if not model or model.startswith("ensemble:"):
            raise InvalidStateError(f"step '{step}' of run {run_id} has no model's answer to judge")
        decisions: dict[str, Any] = {}
        for event in self.store.events(run_id):
            found = event.data.get("decision") if event.type == "step_started" else None
            if found and event.step:
                decisions[event.step] = decisions.get(found.get("same_as"), found)
        decision = decisions.get(step) or {}
        ref = str(decision.get("ref", ""))
        capability = ref.partition("/")[2] if ref.startswith("capability/") else None
        key = f"{run_id}/{step}"
        previous = self.store.get_document("routing.feedback", key)
        self.router.feedback(
            model,
            capability,
            float(score),
            context=decision.get("context"),
            replaces=float(previous["score"]) if previous else None,
        )
        self.store.put_document("routing.feedback", key, {"model": model, "score": float(score)})

    # planning (Layer 2) ----------------------------------------------------------------------
    @property
    def planner(self) -> Planner:
        """The planner over this orchestrator's models and store (made on first use)."""
        found: Planner | None = self.__dict__.get("_planner")
        if found is None:
            from podium.planner import Planner

            found = self.__dict__["_planner"] = Planner(self.registry, self.store)
        return found

    async def aplan(
        self,
        goal: str = "",
        *,
        given: Mapping[str, str] | Sequence[str] | None = None,
        want: Sequence[str] | None = None,
        options: PlanOptions | None = None,
    ) -> Plan:
        """Turn a goal (words) and/or wanted types into a validated, explained workflow.

        ``given`` is what you have (``{"message": "text"}`` or ``["message:text"]``).
        The :class:`~podium.planner.Plan` is a :class:`Workflow`: run it with
        :meth:`run_plan` (which records its outcome as a template), or ``save`` it as YAML.
        """
        return await self.planner.aplan(goal, given=given, want=want, options=options)

    def plan(
        self,
        goal: str = "",
        *,
        given: Mapping[str, str] | Sequence[str] | None = None,
        want: Sequence[str] | None = None,
        options: PlanOptions | None = None,
    ) -> Plan:
        """Synchronous :meth:`aplan`."""
        return self._sync(self.aplan(goal, given=given, want=want, options=options))

    async def arun_plan(
        self,
        plan: Plan,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        caller: Caller | None = None,
    ) -> RunResult:
        """Run a plan (for ``caller``, as :meth:`arun`); a finished run is stored with its
        goal as a template for reuse."""
        result = await self.arun(plan, inputs, run_id=run_id, caller=caller)
        self.planner.record(plan, result)
        return result

    def run_plan(
        self,
        plan: Plan,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        caller: Caller | None = None,
    ) -> RunResult:
        """Synchronous :meth:`arun_plan`."""
        return self._sync(self.arun_plan(plan, inputs, run_id=run_id, caller=caller))
