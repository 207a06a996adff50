"""Adapters by runtime kind, created once per model version and reused; and the remote
executors (Ray) that a call placed elsewhere is handed to."""

from __future__ import annotations

import importlib
from typing import Protocol

from podium._placement import LOCAL, Placement
from podium._types import JSONObject
from podium.adapters._base import Adapter, AdapterEnv, AdapterFactory, CallContext
from podium.errors import ManifestError, ModelCallError
from podium.registry import ModelSpec

#: runtime kind -> "module:factory"; modules are imported only when a model of that kind runs.
ADAPTER_KINDS: dict[str, str] = {
    "python": "podium.adapters._python:PythonAdapter",
    "http": "podium.adapters._http:HttpAdapter",
    "openai": "podium.adapters._openai:OpenAIAdapter",
    "sklearn": "podium.adapters._sklearn:SklearnAdapter",
    "onnx": "podium.adapters._onnx:OnnxAdapter",
    "embedding": "podium.adapters._embedding:EmbeddingAdapter",
}


#: executor kind -> "module:factory"; imported (with its heavy library) on first use.
EXECUTOR_KINDS: dict[str, str] = {"ray": "podium.adapters._ray:RayExecutor"}


class RemoteExecutor(Protocol):
    """Runs adapter calls somewhere other than this process (a Ray cluster)."""

    def runs(self, spec: ModelSpec) -> bool:
        """Whether calls of ``spec`` go there (models it cannot load run in-process)."""
        ...

    async def call(
        self, spec: ModelSpec, inputs: JSONObject, ctx: CallContext, placement: Placement
    ) -> JSONObject: ...

    def close(self) -> None: ...


def _factory(kind: str) -> AdapterFactory:
    path = ADAPTER_KINDS.get(kind)
    if path is None:
        raise ManifestError(f"unknown runtime kind '{kind}'", field="runtime.kind")
    module_name, _, attr = path.partition(":")
    factory: AdapterFactory = getattr(importlib.import_module(module_name), attr)
    return factory


class AdapterPool:
    """Creates adapters lazily, validates every call's input and output at the boundary.

    A call whose context is placed remotely (``ctx.placement``, e.g. on Ray) is validated
    here as well, then handed to that executor, unless the model cannot run there (see
    :meth:`placed`): then it runs here.
    """

    def __init__(self, env: AdapterEnv) -> None:
        self.env = env
        self._adapters: dict[str, Adapter] = {}
        self._remote: dict[str, RemoteExecutor] = {}

    def adapter(self, spec: ModelSpec) -> Adapter:
        adapter = self._adapters.get(spec.key)
        if adapter is None or adapter.spec is not spec:
            adapter = _factory(spec.runtime.kind)(spec, self.env)
            self._adapters[spec.key] = adapter
        return adapter

    async def invoke(self, spec: ModelSpec, inputs: JSONObject, ctx: CallContext) -> JSONObject:
        """Validate ``inputs``, call the model, validate and return its output."""
        key = spec.key  # built on every read: once per call here
        spec.input_schema.validate(inputs, owner=key, direction="input")
        placement = ctx.placement
        if placement is not None and placement.remote:
            remote = self.executor(placement.kind)
            if remote.runs(spec):
                output = await remote.call(spec, inputs, ctx, placement)
                return self._checked(spec, key, output)
        adapter = self._adapters.get(key)
        if adapter is None or adapter.spec is not spec:
            adapter = self.adapter(spec)
        output = await adapter.call(inputs, ctx)
        return self._checked(spec, key, output)

    @staticmethod
    def _checked(spec: ModelSpec, key: str, output: JSONObject) -> JSONObject:
        try:
            spec.output_schema.validate(output, owner=key, direction="output")
        except Exception as exc:
            raise ModelCallError(str(exc), retryable=False) from None
        return output

    def executor(self, kind: str) -> RemoteExecutor:
        """The remote executor of ``kind`` (made, and its library imported, on first use)."""
        found = self._remote.get(kind)
        if found is None:
            module_name, _, attr = EXECUTOR_KINDS[kind].partition(":")
            factory = getattr(importlib.import_module(module_name), attr)
            found = self._remote[kind] = factory(self.env)
        return found

    def placed(self, spec: ModelSpec, placement: Placement) -> Placement:
        """Where a call of ``spec`` placed at ``placement`` really runs: there, or here for
        a model that gains nothing there or cannot be loaded there (HTTP and OpenAI
        endpoints; a function that exists only in this process)."""
        if not placement.remote or not self.executor(placement.kind).runs(spec):
            return LOCAL
        return placement

    def close_executors(self) -> None:
        """Release what remote executors hold for this process (Ray actors)."""
        for remote in self._remote.values():
            remote.close()
        self._remote.clear()

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()
        self.close_executors()
        await self.env.aclose()


def register_adapter_kind(kind: str, factory_path: str) -> None:
    """Make a new runtime kind available (``"package.module:Factory"``)."""
    ADAPTER_KINDS[kind] = factory_path
