"""Model calls on a Ray cluster: actors that keep a model loaded, or one task per call.

The driver (the process running the workflow) keeps everything durable: the engine, the
router, retries, caching and the event log stay where they are, and only the adapter
call travels. What travels is the model's spec as JSON, never a loaded object: the
worker builds the model's own adapter from it (:mod:`podium.adapters._ray_worker`).

- ``actors`` (the default): one pool of actors per model version, as many as the
  manifest's ``instances`` (at most ``resources.max_concurrency``); the pool's actors
  together accept ``resources.max_concurrency`` calls at once (Ray queues the rest), and
  each keeps its model loaded between calls.
- ``tasks``: one Ray task per call (a task worker keeps the models it has loaded for its
  next tasks); the driver holds back calls beyond ``resources.max_concurrency``.

``resources.cpus``, ``gpus`` and ``memory_mb`` become Ray's ``num_cpus``, ``num_gpus``
and ``memory`` of each actor or task. Ray never retries on its own (``max_retries=0``,
``max_restarts=0``): an actor or worker that dies mid-call is a
:class:`~podium.errors.WorkerLostError` (a retryable model call error, which earns the
step one attempt beyond its retry policy, once), the dead actor is replaced, and every
attempt is in the event log like any other.

HTTP and OpenAI models gain nothing from Ray (the work is at the endpoint) and Python
functions that exist only in this process cannot be loaded there: those run in-process.
``ray.init`` runs once, on the first call placed on Ray: ``address`` from
``PODIUM_RAY_ADDRESS``, else a local Ray instance (or the one the process already joined).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from podium._placement import Placement
from podium._types import JSONObject
from podium.adapters._base import AdapterEnv, CallContext
from podium.adapters._ray_worker import ModelActor, pack_context, run_task, spec_digest, unwrap
from podium.errors import ModelCallError, WorkerLostError
from podium.registry import ModelSpec

#: Runtime kinds whose models load inside a Ray worker (python only with an import target).
SHIPPABLE = frozenset({"python", "sklearn", "onnx", "embedding"})
#: How long a call waits before asking again when a model's task limit is reached.
GATE_WAIT_S = 0.002


def ray_options(spec: ModelSpec) -> dict[str, Any]:
    """The manifest's resource requests as Ray options (only what it declares)."""
    wanted = spec.resources
    options: dict[str, Any] = {}
    if wanted is None:
        return options
    if wanted.cpus is not None:
        options["num_cpus"] = wanted.cpus
    if wanted.gpus is not None:
        options["num_gpus"] = wanted.gpus
    if wanted.memory_mb is not None:
        options["memory"] = wanted.memory_mb * 1024 * 1024
    return options


def shortfall(options: dict[str, Any], capacity: dict[str, float]) -> str | None:
    """What of ``options`` (Ray's ``num_cpus``, ``num_gpus``, ``memory``) exceeds
    ``capacity`` (``ray.cluster_resources()``), said as the manifest's field; ``None``
    if it all fits."""
    for option, resource, field, scale in (
        ("num_cpus", "CPU", "cpus", 1.0),
        ("num_gpus", "GPU", "gpus", 1.0),
        ("memory", "memory", "memory_mb", 1024.0 * 1024.0),
    ):
        wanted = float(options.get(option) or 0.0)
        have = float(capacity.get(resource, 0.0))
        if wanted > have:
            asked, held = f"{wanted / scale:g}", f"{have / scale:g}"
            return f"resources.{field} asks for {asked}; the local Ray instance has {held}"
    return None


def pool_shape(spec: ModelSpec) -> list[int | None]:
    """Per actor of the model's pool, how many calls it accepts at once (``None``: Ray's
    default): one actor per instance, at most ``max_concurrency`` actors, the limit
    shared out so that the pool as a whole accepts exactly ``max_concurrency``."""
    size = len(spec.instance_list())
    limit = spec.resources.max_concurrency if spec.resources is not None else None
    if limit is None:
        return [None] * size
    size = min(size, limit)
    return [limit // size + (1 if i < limit % size else 0) for i in range(size)]


def model_error(exc: BaseException, spec: ModelSpec) -> ModelCallError:
    """A Ray failure as the model call error it means to the step: a dead actor, worker
    or node (or a lost object) may succeed on a retry; a call Ray can never place, or an
    environment it cannot set up, will not."""
    import ray.exceptions as rex

    retryable = not isinstance(
        exc,
        rex.TaskUnschedulableError
        | rex.ActorUnschedulableError
        | rex.RuntimeEnvSetupError
        | rex.RayTaskError,
    )
    what = {
        rex.RayActorError: "the Ray actor died mid-call",
        rex.WorkerCrashedError: "the Ray worker died mid-call",
        rex.NodeDiedError: "the Ray node died mid-call",
        rex.OutOfMemoryError: "the Ray worker ran out of memory",
    }
    reason = next((text for kind, text in what.items() if isinstance(exc, kind)), None)
    if reason is not None:
        return WorkerLostError(f"{reason} ({type(exc).__name__})", model=spec.key)
    detail = " ".join(str(exc).split())[:300]
    message = f"{type(exc).__name__}: {detail}"
    return ModelCallError(message, model=spec.key, retryable=retryable)


@dataclass
class _Slot:
    handle: Any
    inflight: int = 0


class _ActorPool:
    """The actors serving one model version, each with its share of the concurrency."""

    def __init__(self, ray: Any, spec: ModelSpec, shipped: JSONObject, home: str) -> None:
        self.ray = ray
        self.spec = spec
        self.shipped = shipped
        self.home = home
        self.shape = pool_shape(spec)
        self.options = ray_options(spec)
        self.actor_class = ray.remote(ModelActor)
        self.slots = [_Slot(self._start(i)) for i in range(len(self.shape))]
        self.replaced = 0
        self._turn = 0

    def _start(self, index: int) -> Any:
        options = dict(self.options, max_restarts=0, max_task_retries=0)
        if self.shape[index] is not None:
            options["max_concurrency"] = self.shape[index]
        return self.actor_class.options(**options).remote(self.shipped, self.home)

    def pick(self, instance: int | None) -> int:
        """The router's instance if it chose one, else the actor with fewest calls."""
        if instance is not None:
            return instance % len(self.slots)
        self._turn = (self._turn + 1) % len(self.slots)
        order = self.slots[self._turn :] + self.slots[: self._turn]
        best = min(order, key=lambda slot: slot.inflight)
        return self.slots.index(best)

    def replace(self, index: int, dead: Any) -> None:
        """Start a new actor in place of ``dead`` (unless another call already did)."""
        slot = self.slots[index]
        if slot.handle is not dead:
            return
        self._kill(dead)
        slot.handle = self._start(index)
        slot.inflight = 0
        self.replaced += 1

    def _kill(self, handle: Any) -> None:
        with contextlib.suppress(Exception):  # gone already: nothing else to release
            self.ray.kill(handle, no_restart=True)

    def close(self) -> None:
        for slot in self.slots:
            self._kill(slot.handle)


class RayExecutor:
    """Runs adapter calls on Ray for one :class:`~podium.adapters.AdapterPool`."""

    def __init__(self, env: AdapterEnv) -> None:
        self.env = env
        self.home = str(env.home)
        self._ray: Any = None
        self._started = False  # whether this object started (and so shuts down) Ray
        self._init_lock = threading.Lock()
        self._pools: dict[str, _ActorPool] = {}
        self._tasks: dict[str, Any] = {}
        self._shipped: dict[str, tuple[ModelSpec, JSONObject, str]] = {}
        self._inflight: dict[str, int] = {}
        self._capacity: dict[str, float] | None = None  # of a local instance started here
        self._checked: set[str] = set()

    # what runs there --------------------------------------------------------------------
    def runs(self, spec: ModelSpec) -> bool:
        """Models that load in a worker: python (with an import target), sklearn, ONNX and
        embedding models; HTTP/OpenAI endpoints and in-process functions run here."""
        kind = spec.runtime.kind
        if kind not in SHIPPABLE:
            return False
        return kind != "python" or getattr(spec.runtime, "target", None) is not None

    def _ship(self, spec: ModelSpec) -> tuple[JSONObject, str]:
        found = self._shipped.get(spec.key)
        if found is None or found[0] is not spec:
            shipped = spec.model_dump(mode="json")
            found = self._shipped[spec.key] = (spec, shipped, spec_digest(shipped))
        return found[1], found[2]

    # Ray itself -------------------------------------------------------------------------
    def _start_ray(self) -> Any:
        with self._init_lock:
            if self._ray is not None:
                return self._ray
            import ray

            if not ray.is_initialized():
                address = self.env.ray_address
                options: dict[str, Any] = {"namespace": "podium"}
                if address is None and not os.environ.get("RAY_ADDRESS"):
                    options["include_dashboard"] = False  # a local instance: fewer processes
                # Started off the main thread on purpose, so Ray leaves the process's own
                # SIGTERM handling (a server's graceful stop) alone: its note saying so is
                # dropped.
                worker_log = logging.getLogger("ray._private.worker")
                worker_log.addFilter(_no_sigterm_note)
                try:
                    ray.init(address=address, **options)
                finally:
                    worker_log.removeFilter(_no_sigterm_note)
                self._started = True
                if "include_dashboard" in options:
                    # a local instance started here never grows: a request beyond it would
                    # wait forever, so it fails at once instead
                    cluster: Any = ray  # typed or not, whether ray ships its hints
                    self._capacity = dict(cluster.cluster_resources())
            self._ray = ray
            return ray

    async def _ready(self) -> Any:
        if self._ray is not None:
            return self._ray
        return await asyncio.to_thread(self._start_ray)  # seconds: not on the event loop

    # calls ------------------------------------------------------------------------------
    async def call(
        self, spec: ModelSpec, inputs: JSONObject, ctx: CallContext, placement: Placement
    ) -> JSONObject:
        """Run one adapter call on Ray; Ray's failures become :class:`ModelCallError`."""
        ray = await self._ready()
        if self._capacity is not None and spec.key not in self._checked:
            missing = shortfall(ray_options(spec), self._capacity)
            if missing is not None:
                raise ModelCallError(missing, model=spec.key, retryable=False)
            self._checked.add(spec.key)
        shipped, digest = self._ship(spec)
        packed = pack_context(ctx)  # what the model may see of the call
        if placement.mode == "tasks":
            envelope = await self._task_call(ray, spec, shipped, digest, inputs, packed)
        else:
            envelope = await self._actor_call(ray, spec, shipped, inputs, packed, ctx.instance)
        return unwrap(envelope)

    async def _actor_call(
        self,
        ray: Any,
        spec: ModelSpec,
        shipped: JSONObject,
        inputs: JSONObject,
        packed: list[Any],
        instance: int | None,
    ) -> JSONObject:
        pool = self._pool(ray, spec, shipped)
        index = pool.pick(instance)
        slot = pool.slots[index]
        handle = slot.handle
        slot.inflight += 1
        try:
            return await _settled(ray, handle.call.remote(inputs, packed))
        except ray.exceptions.RayActorError as exc:
            pool.replace(index, handle)  # dead: the next call goes to a fresh actor
            raise model_error(exc, spec) from None
        except ray.exceptions.RayError as exc:
            raise model_error(exc, spec) from None
        finally:
            if slot.handle is handle:
                slot.inflight = max(slot.inflight - 1, 0)

    def _pool(self, ray: Any, spec: ModelSpec, shipped: JSONObject) -> _ActorPool:
        pool = self._pools.get(spec.key)
        if pool is None or (pool.spec is not spec and pool.shipped != shipped):
            if pool is not None:
                pool.close()
            pool = self._pools[spec.key] = _ActorPool(ray, spec, shipped, self.home)
        return pool

    async def _task_call(
        self,
        ray: Any,
        spec: ModelSpec,
        shipped: JSONObject,
        digest: str,
        inputs: JSONObject,
        packed: list[Any],
    ) -> JSONObject:
        remote = self._tasks.get(spec.key)
        if remote is None:
            options = dict(ray_options(spec), max_retries=0)
            remote = self._tasks[spec.key] = ray.remote(run_task).options(**options)
        limit = spec.resources.max_concurrency if spec.resources is not None else None
        key = spec.key
        if limit is not None:
            while self._inflight.get(key, 0) >= limit:
                await asyncio.sleep(GATE_WAIT_S)
        self._inflight[key] = self._inflight.get(key, 0) + 1
        try:
            call = remote.remote(shipped, digest, self.home, inputs, packed)
            return await _settled(ray, call)
        except ray.exceptions.RayError as exc:
            raise model_error(exc, spec) from None
        finally:
            self._inflight[key] -= 1

    # bookkeeping ------------------------------------------------------------------------
    def actors(self, spec: ModelSpec) -> list[Any]:
        """The Ray actor handles serving the model now (none before its first call)."""
        pool = self._pools.get(spec.key)
        return [slot.handle for slot in pool.slots] if pool is not None else []

    def replaced(self, spec: ModelSpec) -> int:
        """How many of the model's actors have been replaced after dying."""
        pool = self._pools.get(spec.key)
        return pool.replaced if pool is not None else 0

    def close(self) -> None:
        """Stop this process's actors; shut Ray down if this executor started it."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._tasks.clear()
        if self._started and self._ray is not None:
            self._ray.shutdown()
        self._ray = None
        self._started = False


async def _settled(ray: Any, ref: Any) -> JSONObject:
    """The envelope ``ref`` resolves to; a cancelled wait cancels the Ray call too."""
    try:
        envelope: JSONObject = await ref
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):  # finished or gone: nothing to stop
            ray.cancel(ref)
        raise
    return envelope


def _no_sigterm_note(record: logging.LogRecord) -> bool:
    return "SIGTERM handler is not set" not in record.getMessage()
