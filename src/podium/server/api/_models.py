"""``/models``: list, search and read model versions; register manifests and deprecate
versions (admin).

A model whose manifest names ``tenants`` is theirs alone: a key of another tenant neither
sees it (404, as if it did not exist) nor has runs routed to it. A model without
``tenants`` is shared. A tenant's admin registers models for its own tenant only and
cannot replace or deprecate anyone else's.
"""

from __future__ import annotations

import bisect
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel

from podium.errors import ManifestError, UserError
from podium.registry import (
    ModelSpec,
    PythonRuntime,
    Registry,
    parse_version,
    spec_from_mapping,
)
from podium.registry._checks import check_runnable
from podium.server._auth import Principal
from podium.server._deps import Admin, Viewer
from podium.server._problems import not_found
from podium.server._state import server_state
from podium.server.api._common import (
    conflict,
    document_body,
    forbidden,
    invalid,
    locate,
    problems,
    read_document,
)
from podium.server.api._router import router


class ModelPage(BaseModel):
    """Model versions sorted by name and version; pass ``next_cursor`` as ``cursor``."""

    items: list[ModelSpec]
    next_cursor: str | None = None


class ModelHit(BaseModel):
    """A search result."""

    name: str
    version: str
    score: float
    capabilities: list[str]
    description: str


class VersionInfo(BaseModel):
    version: str
    status: str


class ModelUse(BaseModel):
    """The newest version's calls in flight now: in this server and in live workers."""

    in_flight: int
    limit: int | None = None
    waiting: int = 0
    by_worker: dict[str, int] = {}


class ModelDetail(BaseModel):
    """A model: its newest usable version and every version you see."""

    name: str
    latest: ModelSpec
    versions: list[VersionInfo]
    use: ModelUse | None = None


def sees(principal: Principal, spec: ModelSpec) -> bool:
    """Whether ``principal`` may see ``spec``: shared models, and its tenant's."""
    return principal.tenant is None or spec.serves(principal.tenant)


def shown(principal: Principal, spec: ModelSpec) -> ModelSpec:
    """``spec`` as ``principal`` sees it: a tenant's key is not told the other tenants."""
    if principal.tenant is None or spec.tenants is None:
        return spec
    return spec.model_copy(update={"tenants": [principal.tenant]})


def _registry(request: Request) -> Registry:
    return server_state(request).orchestrator.registry


def _sort_key(spec: ModelSpec) -> tuple[str, Any]:
    return (spec.name, spec.semver)


def _after(cursor: str) -> tuple[str, Any]:
    name, sep, version = cursor.rpartition("@")
    try:
        if not sep or not name:
            raise ValueError(cursor)
        return (name, parse_version(version))
    except Exception:
        raise invalid("pass the next_cursor of the previous page", "cursor") from None


@router.get(
    "/models",
    response_model=ModelPage,
    summary="Model versions, by capability, tag and name; paged by cursor",
    responses=problems(),
)
async def list_models(
    request: Request,
    principal: Principal = Viewer,
    capability: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    name: Annotated[str | None, Query(max_length=200, description="part of the name")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=300, description="next_cursor")] = None,
) -> dict[str, Any]:
    registry = _registry(request)
    specs = registry.provides(capability) if capability else list(registry)
    wanted = name.lower() if name else None
    specs = sorted(
        (
            s
            for s in specs
            if sees(principal, s)
            and (tag is None or tag in s.tags)
            and (wanted is None or wanted in s.name)
        ),
        key=_sort_key,
    )
    start = bisect.bisect_right([_sort_key(s) for s in specs], _after(cursor)) if cursor else 0
    page = specs[start : start + limit]
    more = start + limit < len(specs)
    return {
        "items": [shown(principal, s) for s in page],
        "next_cursor": page[-1].key if more and page else None,
    }


@router.get(
    "/models/search",
    response_model=list[ModelHit],
    summary="Search models by name, description, capability and tags (as `podium models search`)",
    responses=problems(),
)
async def search_models(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="free text")],
    principal: Principal = Viewer,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[dict[str, Any]]:
    registry = _registry(request)
    hits = registry.search(q, limit=max(len(registry), 1))
    return [
        {
            "name": s.name,
            "version": s.version,
            "score": score,
            "capabilities": s.capabilities,
            "description": s.description,
        }
        for s, score in hits
        if sees(principal, s)
    ][:limit]


def _versions(request: Request, principal: Principal, name: str) -> list[ModelSpec]:
    found = [s for s in _registry(request).versions(name) if sees(principal, s)]
    if not found:
        raise not_found(f"no model named '{name}'")
    return found


@router.get(
    "/models/{name}",
    response_model=ModelDetail,
    summary="A model: its newest usable version and every version",
    responses=problems(404),
)
async def get_model(request: Request, name: str, principal: Principal = Viewer) -> dict[str, Any]:
    versions = _versions(request, principal, name)
    usable = [s for s in versions if s.status != "disabled"] or versions
    released = [s for s in usable if not s.semver.prerelease] or usable
    latest = max(released, key=lambda s: s.semver)
    return {
        "name": name,
        "latest": shown(principal, latest),
        "versions": [{"version": s.version, "status": s.status} for s in versions],
        "use": _use(request, latest),
    }


def _use(request: Request, spec: ModelSpec) -> dict[str, Any]:
    from podium.engine._control import LEASE_S
    from podium.worker import use_of

    orch = server_state(request).orchestrator
    local = orch.caller.admission.usage().get(spec.key)
    return use_of(orch.store, spec, local, LEASE_S)


def _exact(request: Request, principal: Principal, name: str, version: str) -> ModelSpec:
    for spec in _versions(request, principal, name):
        if spec.version == version:
            return spec
    raise not_found(f"model '{name}' has no version {version}")


@router.get(
    "/models/{name}/{version}",
    response_model=ModelSpec,
    summary="One model version",
    responses=problems(404),
)
async def get_model_version(
    request: Request, name: str, version: str, principal: Principal = Viewer
) -> ModelSpec:
    return shown(principal, _exact(request, principal, name, version))


def _owned(principal: Principal, spec: ModelSpec) -> bool:
    """Whether ``principal`` may replace or change ``spec``: any model for a key of no
    tenant; only its own tenant's models for a tenant's key."""
    return principal.tenant is None or spec.tenants == [principal.tenant]


def _for_tenant(principal: Principal, document: dict[str, Any]) -> dict[str, Any]:
    """A tenant admin's manifest is its tenant's model (and no other tenant's)."""
    if principal.tenant is None:
        return document
    tenants = document.get("tenants")
    if tenants is None:
        document["tenants"] = [principal.tenant]
        return document
    if tenants != [principal.tenant]:
        raise forbidden(f"a key of tenant '{principal.tenant}' registers models for it alone")
    return document


@router.post(
    "/models",
    response_model=list[ModelSpec],
    status_code=201,
    summary="Register model manifests (YAML or JSON: one manifest or a list)",
    responses=problems(409, 413),
    openapi_extra=document_body("A model manifest, or a list of them, as YAML or JSON."),
)
async def register_models(request: Request, principal: Principal = Admin) -> list[ModelSpec]:
    document, as_yaml = await read_document(request, ManifestError)
    documents = document if isinstance(document, list) else [document]
    if not documents:
        raise ManifestError("the list holds no manifest", line=1)
    registry = _registry(request)
    specs: list[ModelSpec] = []
    try:
        for index, doc in enumerate(documents):
            if not isinstance(doc, dict):
                raise ManifestError("a manifest must be a mapping of fields", line=1)
            try:
                spec = spec_from_mapping(_for_tenant(principal, doc))
                check_runnable(spec, doc, thorough=True)
            except UserError as exc:
                if isinstance(document, list) and exc.field:
                    raise exc.located(field=f"{index}.{exc.field}") from None
                raise
            runtime = spec.runtime
            if (
                isinstance(runtime, PythonRuntime)
                and not runtime.target
                and registry.implementation(spec) is None
            ):
                raise ManifestError(
                    "a python model registered over HTTP needs runtime.target "
                    "('package.module:object')",
                    field="runtime.target",
                )
            existing = next((s for s in registry.versions(spec.name) if s.key == spec.key), None)
            if existing is not None and not _owned(principal, existing):
                raise conflict(f"{spec.key} exists and is not your tenant's to replace")
            specs.append(spec)
    except UserError as exc:
        raise (exc if as_yaml else locate(exc, document, await request.body())) from None
    registered = [registry.register(spec) for spec in specs]
    return [shown(principal, s) for s in registered]


@router.post(
    "/models/{name}/{version}/deprecate",
    response_model=ModelSpec,
    summary="Deprecate a model version: routing by capability no longer picks it",
    responses=problems(404),
)
async def deprecate_model(
    request: Request, name: str, version: str, principal: Principal = Admin
) -> ModelSpec:
    spec = _exact(request, principal, name, version)
    if not _owned(principal, spec):
        raise forbidden(f"{spec.key} is shared; a tenant's key cannot deprecate it")
    if spec.status == "deprecated":
        return shown(principal, spec)
    changed = ModelSpec.model_validate(spec.model_dump() | {"status": "deprecated"})
    return shown(principal, _registry(request).register(changed))
