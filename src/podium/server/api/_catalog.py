"""``/capabilities``: the capability catalogue (each capability's contract: the fields its
models take and give, with their types, and the models that provide it), and
``/models/{name}/health``: a model's live numbers and the circuit breaker of each instance.

What a tenant's key sees is limited as ``/models`` limits it: shared models and its own.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel, Field

from podium.registry import ModelSpec, Registry, Schema
from podium.server._auth import Principal
from podium.server._deps import Viewer
from podium.server._problems import not_found
from podium.server._state import server_state
from podium.server.api._common import problems
from podium.server.api._models import sees
from podium.server.api._router import router


class FieldInfo(BaseModel):
    """One field of an input or output schema."""

    name: str
    type: str
    required: bool = True


class Provider(BaseModel):
    """A model version providing a capability."""

    model: str = Field(description="name@version")
    status: str
    quality: float | None = None
    cost_per_call: float | None = None
    latency_ms: float | None = None


class Capability(BaseModel):
    """A capability: the contract its models keep, and who provides it."""

    name: str
    description: str | None = None
    input: list[FieldInfo]
    output: list[FieldInfo]
    providers: list[Provider]


class InstanceHealth(BaseModel):
    """One instance of a model: its load and its circuit breaker."""

    instance: int
    weight: float
    max_concurrency: int | None = None
    outstanding: int
    circuit: str
    failure_rate: float


class ModelHealth(BaseModel):
    """A model version's live numbers (from its calls so far) and its instances."""

    model: str
    stats: dict[str, Any] | None = None
    instances: list[InstanceHealth]


def fields_of(schema: Schema) -> list[dict[str, Any]]:
    return [
        {"name": f.name, "type": f.type, "required": f.required} for f in schema.fields.values()
    ]


def _contract_fields(registry: Registry, name: str, specs: list[ModelSpec]) -> tuple[Any, Any]:
    """The capability's contract schemas (the first registered model's), else the first
    visible provider's."""
    contract = registry.contract(name)
    if contract is not None:
        return Schema.parse(contract["input"]), Schema.parse(contract["output"])
    return specs[0].input_schema, specs[0].output_schema


def capability_json(registry: Registry, name: str, specs: list[ModelSpec]) -> dict[str, Any]:
    inputs, outputs = _contract_fields(registry, name, specs)
    described = next((s.description for s in specs if s.description), None)
    return {
        "name": name,
        "description": described,
        "input": fields_of(inputs),
        "output": fields_of(outputs),
        "providers": [
            {
                "model": s.key,
                "status": s.status,
                "quality": s.quality_for(name),
                "cost_per_call": s.cost.per_call,
                "latency_ms": s.latency_ms,
            }
            for s in specs
        ],
    }


def _visible(request: Request, principal: Principal, name: str) -> list[ModelSpec]:
    registry = server_state(request).orchestrator.registry
    return [s for s in registry.provides(name) if sees(principal, s)]


@router.get(
    "/capabilities",
    response_model=list[Capability],
    summary="Every capability you can use: its input and output fields and its providers",
    responses=problems(),
)
async def list_capabilities(request: Request, principal: Principal = Viewer) -> list[Any]:
    registry = server_state(request).orchestrator.registry
    found = []
    for name in sorted(registry.capabilities()):
        specs = _visible(request, principal, name)
        if specs:
            found.append(capability_json(registry, name, specs))
    return found


@router.get(
    "/capabilities/{name}",
    response_model=Capability,
    summary="One capability: the schema of its input and output, and its providers",
    responses=problems(404),
)
async def get_capability(request: Request, name: str, principal: Principal = Viewer) -> Any:
    specs = _visible(request, principal, name)
    if not specs:
        raise not_found(f"no capability named '{name}'")
    return capability_json(server_state(request).orchestrator.registry, name, specs)


@router.get(
    "/models/{name}/{version}/health",
    response_model=ModelHealth,
    summary="A model version's live latency, errors and cost, and each instance's breaker",
    responses=problems(404),
)
async def model_health(
    request: Request, name: str, version: str, principal: Principal = Viewer
) -> dict[str, Any]:
    orch = server_state(request).orchestrator
    spec = next(
        (s for s in orch.registry.versions(name) if s.version == version and sees(principal, s)),
        None,
    )
    if spec is None:
        raise not_found(f"model '{name}' has no version {version}")
    router_ = orch.router
    stats = getattr(router_, "model_stats", None)
    instances = getattr(router_, "instances", None)
    return {
        "model": spec.key,
        "stats": stats(spec.key) if callable(stats) else None,
        "instances": instances(spec.key) if callable(instances) else [],
    }
