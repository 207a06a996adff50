"""Python callables: ``target: "module:object"`` or a function registered from code.

A function is called with the input fields as keyword arguments. A class is instantiated
once (no arguments) and its ``predict`` or ``__call__`` method used the same way. Coroutine
functions are awaited directly. A sync callable's first calls run in the shared thread pool
and are timed; if every one of them was fast, later calls run on the event loop itself (a
thread hop costs more than a trivial model), and the first call that is slow sends the
model back to the pool for good. ``inline: true`` or ``false`` fixes the choice.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Callable
from typing import Any, cast

from podium._imports import import_module_near
from podium._types import JSONObject
from podium.adapters._base import AdapterEnv, CallContext
from podium.errors import ManifestError, ModelCallError
from podium.registry import ModelSpec, PythonRuntime


def import_target(target: str, manifest: str | None = None) -> Any:
    """Import ``module:attr.path`` (looking beside ``manifest`` too); a failure is a
    :class:`ManifestError` naming the target."""
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path:
        raise ManifestError(
            f"target '{target}' must look like 'package.module:object'", field="runtime.target"
        )
    try:
        obj: Any = import_module_near(module_name, manifest)
    except ImportError as exc:
        raise ManifestError(
            f"cannot import '{module_name}': {exc}", field="runtime.target"
        ) from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ManifestError(
                f"'{module_name}' has no attribute '{attr_path}'", field="runtime.target"
            ) from None
    return obj


def as_callable(obj: Any) -> Callable[..., Any]:
    """A function as is; a class instantiated, then its ``predict`` or ``__call__``."""
    if inspect.isclass(obj):
        obj = obj()
    if not inspect.isroutine(obj):
        method = getattr(obj, "predict", None)
        if callable(method):
            return cast(Callable[..., Any], method)
        if callable(obj):
            return cast(Callable[..., Any], obj)
        raise ManifestError(f"{obj!r} is neither a function nor has predict/__call__")
    return obj


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - looking for an async __call__ method
    )


#: Calls timed in the thread pool before a sync model may run on the loop.
PROBE_CALLS = 8
#: A call at most this long is fast enough to run on the event loop.
FAST_S = 0.0002
#: An inline call longer than this sends the model back to the thread pool for good.
SLOW_S = 0.002


class InlinePolicy:
    """Where a sync model runs: on the loop while it is fast, in the thread pool otherwise.

    The first :data:`PROBE_CALLS` calls run in the pool, timed there; the model moves onto
    the loop if most of them were fast. Most, not all: a call in a thread can wait for the
    GIL for milliseconds while the loop works, which says nothing about the model.
    """

    def __init__(self, fixed: bool | None) -> None:
        self.fixed = fixed
        self.inline = bool(fixed)
        self._probes = 0 if fixed is None else PROBE_CALLS
        self._slow = 0

    def timed_in_pool(self, seconds: float) -> None:
        if self.fixed is not None or self._probes >= PROBE_CALLS:
            return
        self._probes += 1
        if seconds > FAST_S:
            self._slow += 1
            if self._slow * 2 > PROBE_CALLS:
                self.fixed = False  # slow in most probes: never on the loop
                return
        if self._probes == PROBE_CALLS:
            self.inline = True

    def timed_inline(self, seconds: float) -> None:
        if self.fixed is None and seconds > SLOW_S:
            self.inline = False
            self.fixed = False


class PythonAdapter:
    """Calls a Python callable in-process."""

    def __init__(self, spec: ModelSpec, env: AdapterEnv) -> None:
        self.spec = spec
        runtime = spec.runtime
        assert isinstance(runtime, PythonRuntime)
        implementation = env.implementations(spec)
        if implementation is None:
            if not runtime.target:
                raise ManifestError(
                    f"{spec.key} has no runtime.target and no function registered in this process",
                    field="runtime.target",
                )
            implementation = as_callable(import_target(runtime.target, spec.source))
        self._fn = implementation
        self._async = _is_async(implementation)
        self.placement = InlinePolicy(runtime.inline)
        self._threads = env.threads
        self._wants_ctx = "podium_context" in _parameters(implementation)

    async def call(self, inputs: JSONObject, ctx: CallContext) -> JSONObject:
        kwargs = {**inputs, "podium_context": ctx} if self._wants_ctx else inputs
        try:
            if self._async:
                result = await self._fn(**kwargs)
            elif self.placement.inline and ctx.timeout_s is None:  # a timeout needs the pool
                started = time.perf_counter()
                try:
                    result = self._fn(**kwargs)
                finally:
                    seconds = time.perf_counter() - started
                    if seconds > SLOW_S:  # the only case timed_inline acts on
                        self.placement.timed_inline(seconds)
            else:
                loop = asyncio.get_running_loop()
                result, seconds = await loop.run_in_executor(
                    self._threads, functools.partial(_timed, self._fn, kwargs)
                )
                self.placement.timed_in_pool(seconds)
        except TypeError as exc:
            raise ModelCallError(
                f"called with bad arguments: {exc}", model=self.spec.key, retryable=False
            ) from exc
        except (ModelCallError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise ModelCallError(f"{type(exc).__name__}: {exc}", model=self.spec.key) from exc
        if not isinstance(result, dict):
            if self.spec.output_schema.fields and len(self.spec.output_schema.fields) == 1:
                result = {next(iter(self.spec.output_schema.fields)): result}
            else:
                raise ModelCallError(
                    f"returned {type(result).__name__}; a model must return a dict",
                    model=self.spec.key,
                    retryable=False,
                )
        return result

    async def aclose(self) -> None:
        """Nothing to release: the thread pool belongs to the environment."""


def _timed(fn: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(**kwargs)
    return result, time.perf_counter() - started


def _parameters(fn: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()
