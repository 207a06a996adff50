"""Who is calling: the API key of a request, its role, and the tenant it may see."""

from __future__ import annotations

from dataclasses import dataclass

from podium.governance import ApiKey, KeyRing, Role
from podium.server._problems import Problem


@dataclass(frozen=True)
class Principal:
    """The caller of one request. ``tenant`` ``None`` sees every tenant."""

    name: str
    role: Role
    tenant: str | None
    key: ApiKey | None = None

    def may(self, needed: Role) -> bool:
        return self.role.allows(needed)

    def sees(self, tenant: str | None) -> bool:
        """Whether an object of ``tenant`` is visible to this caller."""
        return self.tenant is None or self.tenant == tenant


ANONYMOUS_READER = Principal("anonymous", Role.VIEWER, None)


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(
    keys: KeyRing, token: str | None, needed: Role, *, public_read: bool = False
) -> Principal:
    """The principal behind ``token``, allowed ``needed``; else a 401 or 403 problem."""
    if token is None:
        if public_read and needed is Role.VIEWER:
            return ANONYMOUS_READER
        raise Problem(
            401,
            "Unauthorized",
            "an API key is needed: send 'Authorization: Bearer <key>'",
            kind="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="podium"'},
        )
    key = keys.verify(token)
    if key is None:
        raise Problem(
            401,
            "Unauthorized",
            "the API key is unknown, expired or revoked",
            kind="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="podium", error="invalid_token"'},
        )
    principal = Principal(key.principal, key.role, key.tenant, key)
    if not principal.may(needed):
        raise Problem(
            403,
            "Forbidden",
            f"this needs the {needed} role; the key has {key.role}",
            kind="forbidden",
        )
    return principal
