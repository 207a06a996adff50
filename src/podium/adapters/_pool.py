"""Adapters by runtime kind, created once per model version and reused."""

from __future__ import annotations

import importlib

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


def _factory(kind: str) -> AdapterFactory:
    path = ADAPTER_KINDS.get(kind)
    if path is None:
        raise ManifestError(f"unknown runtime kind '{kind}'", field="runtime.kind")
    module_name, _, attr = path.partition(":")
    factory: AdapterFactory = getattr(importlib.import_module(module_name), attr)
    return factory


class AdapterPool:
    """Creates adapters lazily, validates every call's input and output at the boundary."""

    def __init__(self, env: AdapterEnv) -> None:
        self.env = env
        self._adapters: dict[str, Adapter] = {}

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
        adapter = self._adapters.get(key)
        if adapter is None or adapter.spec is not spec:
            adapter = self.adapter(spec)
        output = await adapter.call(inputs, ctx)
        try:
            spec.output_schema.validate(output, owner=key, direction="output")
        except Exception as exc:
            raise ModelCallError(str(exc), retryable=False) from None
        return output

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()
        await self.env.aclose()


def register_adapter_kind(kind: str, factory_path: str) -> None:
    """Make a new runtime kind available (``"package.module:Factory"``)."""
    ADAPTER_KINDS[kind] = factory_path
