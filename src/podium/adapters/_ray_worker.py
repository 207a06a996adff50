"""What runs inside Ray: a model's own adapter, built from its manifest where it runs.

Only the spec (plain JSON) travels to the Ray worker, never a loaded model: the worker
validates it again and builds the same adapter the driver would (a skops file is loaded
through the same allow-list, a Python target imported by name). The answer comes back
as a plain envelope, ``{"output": ...}`` or ``{"error": ...}`` with what the driver
needs to raise the same error it would have raised in-process; a worker or actor that
dies never answers, and the driver hears of it from Ray instead.

This module is imported inside Ray workers and by :mod:`podium.adapters._ray`; it does
not import ray itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

from podium import errors
from podium._context import Caller, RunContext
from podium._types import JSONObject
from podium.adapters._base import Adapter, AdapterEnv, CallContext
from podium.adapters._pool import _factory
from podium.errors import ModelCallError, UserError
from podium.registry import ModelSpec

#: Models a task worker keeps loaded between tasks (least recently used dropped first).
WARM_MODELS = 8


def spec_digest(shipped: JSONObject) -> str:
    """A short digest of a shipped spec: the same model version, loaded the same way."""
    canonical = json.dumps(shipped, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def pack_context(ctx: CallContext) -> list[Any]:
    """What a model may know of its call, as plain values (Ray sends those without
    pickling: a tenth of a millisecond less per call than the dataclasses)."""
    run = ctx.run
    packed_run = None
    if run is not None:
        caller = run.caller
        headers = [list(pair) for pair in caller.headers]
        packed_run = [run.run_id, run.workflow, caller.principal, caller.tenant, headers]
        packed_run += [caller.trace_id, caller.span_id]
    return [ctx.run_id, ctx.step, ctx.attempt, ctx.instance, ctx.timeout_s, packed_run]


def unpack_context(packed: list[Any]) -> CallContext:
    """The :class:`CallContext` :func:`pack_context` was given (without its placement)."""
    run_id, step, attempt, instance, timeout_s, packed_run = packed
    run = None
    if packed_run is not None:
        run_run_id, workflow, principal, tenant, headers, trace_id, span_id = packed_run
        pairs = tuple((str(k), str(v)) for k, v in headers)
        caller = Caller(principal, tenant, pairs, trace_id, span_id)
        run = RunContext(run_run_id, workflow, caller)
    return CallContext(run_id, step, attempt, instance, timeout_s, run)


def build_adapter(shipped: JSONObject, home: str, env: AdapterEnv | None = None) -> Adapter:
    """The adapter of the model ``shipped`` describes (a spec's JSON form)."""
    spec = ModelSpec.model_validate(shipped)
    own = env or AdapterEnv(Path(home), implementations=lambda _spec: None)
    return _factory(spec.runtime.kind)(spec, own)


async def answer(adapter: Adapter, inputs: JSONObject, ctx: CallContext) -> JSONObject:
    """Call ``adapter``; its output or its error, as an envelope (never raises, so an
    error never has to survive Ray's own exception wrapping)."""
    try:
        return {"output": await adapter.call(inputs, ctx)}
    except ModelCallError as exc:
        return {"error": str(exc), "retryable": exc.retryable}
    except UserError as exc:
        return _user_error(exc)
    except Exception as exc:
        model = adapter.spec.key
        return {"error": f"{model}: {type(exc).__name__}: {exc}", "retryable": True}


def _user_error(exc: UserError) -> JSONObject:
    return {
        "user_error": type(exc).__name__,
        "message": exc.message,
        "file": exc.file,
        "line": exc.line,
        "field": exc.field,
    }


def unwrap(envelope: JSONObject) -> JSONObject:
    """The output in ``envelope``, or the error it carries raised again (in the driver)."""
    if "output" in envelope:
        output: JSONObject = envelope["output"]
        return output
    name = envelope.get("user_error")
    if name is not None:
        kind = getattr(errors, str(name), None)
        if not (isinstance(kind, type) and issubclass(kind, UserError)):
            kind = UserError
        raise kind(
            str(envelope.get("message")),
            file=envelope.get("file"),
            line=envelope.get("line"),
            field=envelope.get("field"),
        )
    raise ModelCallError(str(envelope.get("error")), retryable=bool(envelope.get("retryable")))


class ModelActor:
    """A Ray actor holding one model version loaded: it answers calls until it dies.

    (Made a Ray actor class by :mod:`podium.adapters._ray`; its ``async`` method makes it
    an async actor, so its concurrency is Ray's ``max_concurrency`` option.)
    """

    def __init__(self, shipped: JSONObject, home: str) -> None:
        self.shipped = shipped
        self.home = home
        self.adapter: Adapter | None = None

    async def call(self, inputs: JSONObject, packed: list[Any]) -> JSONObject:
        """One call: ``packed`` is the call's context (see :func:`pack_context`)."""
        if self.adapter is None:
            try:  # built on the first call, so a bad manifest is the call's error
                self.adapter = build_adapter(self.shipped, self.home)
            except UserError as exc:
                return _user_error(exc)
        return await answer(self.adapter, inputs, unpack_context(packed))

    def ready(self) -> bool:
        """Answers once the actor is up (its model is loaded on its first call)."""
        return True


class _Warm:
    """The adapters one task worker process has built, kept for the next task."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.adapters: OrderedDict[str, Adapter] = OrderedDict()
        self.envs: dict[str, AdapterEnv] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def adapter(self, shipped: JSONObject, home: str, digest: str) -> Adapter:
        """The adapter for ``digest`` (built from ``shipped`` the first time)."""
        found = self.adapters.get(digest)
        if found is None:
            env = self.envs.get(home)
            if env is None:
                env = self.envs[home] = AdapterEnv(Path(home), implementations=lambda _s: None)
            found = self.adapters[digest] = build_adapter(shipped, home, env)
            while len(self.adapters) > self.limit:
                self.adapters.popitem(last=False)
        else:
            self.adapters.move_to_end(digest)
        return found

    def run(self, work: Any) -> JSONObject:
        """Run a coroutine on this worker's own event loop (kept between tasks)."""
        if self.loop is None or self.loop.is_closed():
            self.loop = asyncio.new_event_loop()
        result: JSONObject = self.loop.run_until_complete(work)
        return result


_warm = _Warm(WARM_MODELS)


def run_task(
    shipped: JSONObject, digest: str, home: str, inputs: JSONObject, packed: list[Any]
) -> JSONObject:
    """One call as a Ray task: the worker's warm adapter for the model (built on its
    first task there), called on the worker's event loop; an envelope back."""
    try:
        adapter = _warm.adapter(shipped, home, digest)
    except UserError as exc:
        return _user_error(exc)
    return _warm.run(answer(adapter, inputs, unpack_context(packed)))
