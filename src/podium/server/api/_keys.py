"""``/keys`` (admin): list, create (the token is shown once) and revoke API keys.

An admin key of a tenant manages only that tenant's keys: it cannot create a key for
another tenant, nor one of no tenant (which would see every tenant).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import Path, Request
from pydantic import BaseModel, Field

from podium.governance import ApiKey, KeyRing
from podium.server._auth import Principal
from podium.server._deps import Admin
from podium.server._problems import not_found
from podium.server._state import server_state
from podium.server.api._common import Strict, forbidden, invalid, problems
from podium.server.api._router import router

TENANT = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class KeyView(BaseModel):
    """An API key, without its secret."""

    key_id: str
    role: Literal["viewer", "operator", "admin"]
    tenant: str | None = None
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    label: str | None = None
    state: Literal["active", "expired", "revoked"]
    principal: str


class NewKey(KeyView):
    """A new key: ``token`` is shown this once and never again."""

    token: str


class KeyRequest(Strict):
    """The key to create."""

    role: Literal["viewer", "operator", "admin"]
    tenant: str | None = Field(default=None, pattern=TENANT, description="default: yours")
    expires_at: float | None = Field(default=None, description="seconds since the epoch")
    label: str | None = Field(default=None, max_length=200)


def key_json(key: ApiKey) -> dict[str, Any]:
    if key.revoked_at is not None:
        state = "revoked"
    elif not key.usable():
        state = "expired"
    else:
        state = "active"
    return key.to_json() | {"state": state, "principal": key.principal}


def _keys(request: Request) -> KeyRing:
    return server_state(request).keys


@router.get(
    "/keys",
    response_model=list[KeyView],
    summary="API keys (not their secrets)",
    responses=problems(),
)
async def list_keys(request: Request, principal: Principal = Admin) -> list[dict[str, Any]]:
    keys = _keys(request).list()
    return [key_json(k) for k in keys if principal.sees(k.tenant)]


@router.post(
    "/keys",
    response_model=NewKey,
    status_code=201,
    summary="Create an API key; its token is in this answer only",
    responses=problems(),
)
async def create_key(
    body: KeyRequest, request: Request, principal: Principal = Admin
) -> dict[str, Any]:
    tenant = body.tenant if body.tenant is not None else principal.tenant
    if not principal.sees(tenant) or (principal.tenant is not None and tenant is None):
        raise forbidden(f"a key of tenant '{principal.tenant}' creates keys of that tenant only")
    if body.expires_at is not None and body.expires_at <= time.time():
        raise invalid("the expiry is in the past", "expires_at")
    key, token = _keys(request).create(
        body.role, tenant=tenant, expires_at=body.expires_at, label=body.label
    )
    return key_json(key) | {"token": token}


@router.delete(
    "/keys/{key_id}",
    response_model=KeyView,
    summary="Revoke an API key: requests made with it are refused from now on",
    responses=problems(404),
)
async def revoke_key(
    request: Request,
    key_id: Annotated[str, Path(max_length=64)],
    principal: Principal = Admin,
) -> dict[str, Any]:
    ring = _keys(request)
    found = ring.get(key_id) if key_id.isalnum() else None
    if found is None or not principal.sees(found.tenant):
        raise not_found(f"no key with id '{key_id}'")
    return key_json(ring.revoke(key_id))
