"""API keys: who may do what, for which tenant. Only a salted hash of each key is stored.

A key reads ``pdm_<key id>_<secret>``. The key id finds the stored record; the secret is
checked against its salted SHA-256 in constant time. Keys are random (256 bits), so a slow
password hash would add nothing but latency to every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from podium._context import current_actor
from podium.errors import InvalidStateError, UserError
from podium.store import AuditNote, Store

KIND = "auth.key"
PREFIX = "pdm"
#: How long a verified key is trusted without reading the store again. Expiry is checked on
#: every use; a revocation made through this ring applies at once, one made by another
#: process (``podium keys revoke``) within this many seconds.
VERIFIED_TTL_S = 1.0
_VERIFIED_MAX = 10_000
_TOKEN = re.compile(r"^pdm_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Role(StrEnum):
    """What a key may do: a viewer reads, an operator runs and approves, an admin also
    registers models and manages keys. Each role includes the ones before it."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        order = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret. ``tenant`` ``None``: every tenant (admins)."""

    key_id: str
    role: Role
    tenant: str | None
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    label: str | None = None

    def usable(self, now: float | None = None) -> bool:
        moment = time.time() if now is None else now
        expired = self.expires_at is not None and moment >= self.expires_at
        return self.revoked_at is None and not expired

    @property
    def principal(self) -> str:
        """How requests made with this key are attributed: ``key:<id>``."""
        return f"key:{self.key_id}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["role"] = str(self.role)
        return data


def check_tenant(tenant: str | None) -> str | None:
    if tenant is not None and not _TENANT.match(tenant):
        raise UserError(
            "a tenant is lower-case letters, digits, '-' and '_' (at most 63)", field="--tenant"
        )
    return tenant


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


class KeyRing:
    """Creates, lists, revokes and verifies API keys kept in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # sha256 of a token -> (its key, when it was read): no secret is kept
        self._verified: dict[str, tuple[ApiKey, float]] = {}

    def create(
        self,
        role: Role | str,
        *,
        tenant: str | None = None,
        expires_at: float | None = None,
        label: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its token. The token is shown once; only its hash is kept."""
        try:
            chosen = Role(role)
        except ValueError:
            raise UserError(
                f"unknown role '{role}'; expected viewer, operator or admin", field="--role"
            ) from None
        if expires_at is not None and expires_at <= time.time():
            raise UserError("the expiry is in the past", field="--expires")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        key = ApiKey(key_id, chosen, check_tenant(tenant), time.time(), expires_at, None, label)
        record = key.to_json() | {"salt": salt, "hash": _digest(salt, secret)}
        self.store.put_document(KIND, key_id, record, audit=_note("key.created", key))
        return key, f"{PREFIX}_{key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        keys = [_key(record) for record in self.store.documents(KIND).values()]
        return sorted(keys, key=lambda k: k.created_at)

    def get(self, key_id: str) -> ApiKey | None:
        record = self.store.get_document(KIND, key_id)
        return _key(record) if record else None

    def revoke(self, key_id: str) -> ApiKey:
        record = self.store.get_document(KIND, key_id)
        if record is None:
            raise InvalidStateError(f"no key with id '{key_id}'")
        if record.get("revoked_at") is None:
            record["revoked_at"] = time.time()
            note = _note("key.revoked", _key(record))
            self.store.put_document(KIND, key_id, record, audit=note)
        self._verified.clear()
        return _key(record)

    def verify(self, token: str, now: float | None = None) -> ApiKey | None:
        """The usable key ``token`` belongs to, or ``None`` (unknown, wrong, expired, revoked).

        The work done is the same whether or not the key id exists. A key verified in the
        last :data:`VERIFIED_TTL_S` seconds is not read again (its expiry still is checked).
        """
        moment = time.time() if now is None else now
        seen = hashlib.sha256(token.encode()).hexdigest()
        cached = self._verified.get(seen)
        if cached is not None and time.monotonic() - cached[1] < VERIFIED_TTL_S:
            return cached[0] if cached[0].usable(moment) else None
        found = _TOKEN.match(token.strip())
        key_id, secret = (found.group(1), found.group(2)) if found else ("0" * 12, "x" * 43)
        record = self.store.get_document(KIND, key_id) if found else None
        salt = str(record.get("salt", "00")) if record else "00" * 16
        expected = str(record.get("hash", "")) if record else "0" * 64
        matches = hmac.compare_digest(_digest(salt, secret), expected)
        if not (found and record and matches):
            return None
        key = _key(record)
        if not key.usable(moment):
            return None
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[seen] = (key, time.monotonic())
        return key


def _note(kind: str, key: ApiKey) -> AuditNote:
    """The audit record of a key's change (never its secret or hash)."""
    actor = current_actor()
    data: dict[str, Any] = {"key_id": key.key_id, "role": str(key.role), "tenant": key.tenant}
    data |= {"expires_at": key.expires_at, "label": key.label}
    return AuditNote(kind, time.time(), data, key.key_id, actor.principal, actor.tenant)


def _key(record: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=str(record["key_id"]),
        role=Role(record["role"]),
        tenant=record.get("tenant"),
        created_at=float(record["created_at"]),
        expires_at=record.get("expires_at"),
        revoked_at=record.get("revoked_at"),
        label=record.get("label"),
    )
