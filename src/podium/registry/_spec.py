"""The model manifest: what a model is, what it does, how it is called and what it costs."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from podium.registry._schema import Schema
from podium.registry._versions import Version, parse_version

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
CAPABILITY_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PythonRuntime(_Strict):
    """A Python callable: ``target: "module:object"`` or one registered from code.

    ``inline`` says where a sync callable runs: ``false``, always in a thread pool;
    ``true``, always on the event loop (only for trivial code); unset (the default), on the
    loop once its first calls in the pool have all been fast, and back in the pool for good
    the first time one is slow.
    """

    kind: Literal["python"] = "python"
    target: str | None = None
    inline: bool | None = None


class HttpRuntime(_Strict):
    """A JSON-in, JSON-out HTTP endpoint (POST)."""

    kind: Literal["http"] = "http"
    url: str | None = None
    timeout_s: float = 30.0
    headers: dict[str, str] = Field(default_factory=dict)
    api_key_env: str | None = None


class OpenAIRuntime(_Strict):
    """An OpenAI-compatible server: chat completions or embeddings."""

    kind: Literal["openai"] = "openai"
    base_url: str | None = None
    model: str
    api_key_env: str | None = None
    mode: Literal["chat", "embeddings"] = "chat"
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_s: float = 60.0


class SklearnRuntime(_Strict):
    """A fitted scikit-learn estimator saved with skops."""

    kind: Literal["sklearn"] = "sklearn"
    path: str
    feature_order: list[str] | None = None
    trusted: list[str] = Field(default_factory=list)


class OnnxRuntime(_Strict):
    """An ONNX model run with onnxruntime."""

    kind: Literal["onnx"] = "onnx"
    path: str
    feature_order: list[str] | None = None
    classes: list[Any] | None = None


class EmbeddingRuntime(_Strict):
    """A sentence-transformers embedding model, from a local path or a packaged name."""

    kind: Literal["embedding"] = "embedding"
    model: str


Runtime = Annotated[
    PythonRuntime | HttpRuntime | OpenAIRuntime | SklearnRuntime | OnnxRuntime | EmbeddingRuntime,
    Field(discriminator="kind"),
]


class Instance(_Strict):
    """One replica or endpoint of a model."""

    url: str | None = None
    base_url: str | None = None
    weight: float = Field(default=1.0, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1)


class Resources(_Strict):
    """What one call (or one warm replica) of the model needs, and how many calls of it may
    run at once. Unset fields ask for nothing; executors honour what is declared (on Ray:
    ``num_cpus``, ``num_gpus`` and ``memory`` of its tasks and actors; in-process: a call
    holds its cpus, gpus and memory from the process's capacity while it runs, see
    :mod:`podium.engine._admission`)."""

    cpus: float | None = Field(default=None, ge=0)
    gpus: float | None = Field(default=None, ge=0)
    memory_mb: int | None = Field(default=None, ge=1)
    max_concurrency: int | None = Field(default=None, ge=1)

    @property
    def needs(self) -> tuple[float, float, float]:
        """(cpus, gpus, memory_mb) one call holds (0 for what is not declared)."""
        return (self.cpus or 0.0, self.gpus or 0.0, float(self.memory_mb or 0))


class Cost(_Strict):
    """What one call costs, in currency units."""

    per_call: float = Field(default=0.0, ge=0)
    per_1k_tokens: float = Field(default=0.0, ge=0)


class ModelSpec(_Strict):
    """A registered model, as its manifest declares it (see DESIGN.md, "Model manifest")."""

    name: str
    version: str
    description: str = ""
    capabilities: list[str] = Field(min_length=1)
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    runtime: Runtime = Field(default_factory=PythonRuntime)
    cost: Cost = Field(default_factory=Cost)
    latency_ms: float = Field(default=100.0, ge=0)
    quality: dict[str, float] = Field(default_factory=dict)
    consumes: list[str] | None = None
    produces: list[str] | None = None
    tags: list[str] = Field(default_factory=list)
    instances: int | list[Instance] = 1
    resources: Resources | None = None
    status: Literal["active", "deprecated", "disabled"] = "active"
    tenants: list[str] | None = Field(
        default=None, description="the only tenants whose runs may use it (unset: shared)"
    )
    source: str | None = Field(default=None, description="manifest file it came from")

    @field_validator("cost", mode="before")
    @classmethod
    def _cost_number(cls, value: Any) -> Any:
        return {"per_call": value} if isinstance(value, int | float) else value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(f"'{value}' must match [a-z0-9-]+ (lower-case letters, digits, -)")
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        try:
            return str(parse_version(str(value)))
        except Exception:
            raise ValueError(f"'{value}' is not a semantic version (e.g. 1.2.0)") from None

    @field_validator("capabilities")
    @classmethod
    def _capabilities(cls, value: list[str]) -> list[str]:
        for cap in value:
            if not CAPABILITY_PATTERN.match(cap):
                raise ValueError(f"'{cap}' is not a dotted capability name like text.intent")
        return value

    @field_validator("instances")
    @classmethod
    def _instances(cls, value: int | list[Instance]) -> int | list[Instance]:
        if isinstance(value, int) and value < 1:
            raise ValueError("must be at least 1")
        if isinstance(value, list) and not value:
            raise ValueError("must list at least one instance")
        return value

    @field_validator("tenants")
    @classmethod
    def _tenants(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must name at least one tenant (leave it out to share the model)")
        for tenant in value:
            if not TENANT_PATTERN.match(tenant):
                raise ValueError(
                    f"'{tenant}' is not a tenant: lower-case letters, digits, '-' and '_'"
                )
        return value

    @field_validator("quality")
    @classmethod
    def _quality_keys(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        capabilities = info.data.get("capabilities") or []
        for cap, score in value.items():
            if cap not in capabilities:
                raise ValueError(f"quality names '{cap}', which is not among the capabilities")
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"quality of '{cap}' must be between 0 and 1, got {score}")
        return value

    @model_validator(mode="after")
    def _schemas(self) -> ModelSpec:
        Schema.parse(self.input, where="input")
        Schema.parse(self.output, where="output")
        return self

    @property
    def key(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    @cached_property
    def semver(self) -> Version:
        return parse_version(self.version)

    @cached_property
    def input_schema(self) -> Schema:
        return Schema.parse(self.input, where="input")

    @cached_property
    def output_schema(self) -> Schema:
        return Schema.parse(self.output, where="output")

    @property
    def consumed_types(self) -> list[str]:
        """Semantic types this model consumes (default: its input field names)."""
        return list(self.consumes or self.input_schema.fields)

    @property
    def produced_types(self) -> list[str]:
        """Semantic types this model produces (default: its output field names)."""
        return list(self.produces or self.output_schema.fields)

    def serves(self, tenant: str | None) -> bool:
        """Whether a run of ``tenant`` may use this model: one without ``tenants`` serves
        every run; one with ``tenants`` only the runs of those tenants."""
        return self.tenants is None or tenant in self.tenants

    def quality_for(self, capability: str, default: float = 0.5) -> float:
        """The prior quality score for ``capability``."""
        return self.quality.get(capability, default)

    def instance_list(self) -> list[Instance]:
        """Instances as a list (``instances: 3`` becomes three anonymous replicas)."""
        if isinstance(self.instances, int):
            return [Instance() for _ in range(self.instances)]
        return list(self.instances)
