"""API keys: shown once, stored only as a salted hash, verified in constant time."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from podium.errors import InvalidStateError, UserError
from podium.governance import KeyRing, Role
from podium.store import MemoryStore, SqlStore


@pytest.fixture(params=["memory", "sqlite"])
def ring(request: pytest.FixtureRequest, tmp_path: Path) -> KeyRing:
    store = MemoryStore() if request.param == "memory" else SqlStore(f"sqlite:///{tmp_path}/k.db")
    return KeyRing(store)


def test_a_key_verifies_and_only_its_hash_is_stored(ring: KeyRing) -> None:
    key, token = ring.create("operator", tenant="acme", label="ci")
    assert token.startswith(f"pdm_{key.key_id}_")
    found = ring.verify(token)
    assert found is not None and found.role is Role.OPERATOR and found.tenant == "acme"
    assert found.principal == f"key:{key.key_id}"
    stored = json.dumps(ring.store.documents("auth.key"))
    secret = token.rsplit("_", 1)[-1]
    assert secret not in stored and token not in stored
    assert ring.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert ring.verify("pdm_000000000000_" + "x" * 43) is None
    assert ring.verify("garbage") is None and ring.verify("") is None


def test_revoked_and_expired_keys_are_refused(ring: KeyRing) -> None:
    key, token = ring.create("viewer")
    assert ring.revoke(key.key_id).revoked_at is not None
    assert ring.verify(token) is None
    soon, short = ring.create("admin", expires_at=time.time() + 60)
    assert ring.verify(short) is not None
    assert ring.verify(short, now=time.time() + 120) is None
    assert [k.key_id for k in ring.list()] == [key.key_id, soon.key_id]
    with pytest.raises(InvalidStateError, match="no key"):
        ring.revoke("nope")


def test_bad_roles_tenants_and_expiries_are_one_clear_error(ring: KeyRing) -> None:
    with pytest.raises(UserError, match="unknown role 'root'"):
        ring.create("root")
    with pytest.raises(UserError, match="tenant"):
        ring.create("viewer", tenant="Has Spaces")
    with pytest.raises(UserError, match="past"):
        ring.create("viewer", expires_at=time.time() - 1)


def test_roles_include_the_ones_before_them() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR) and not Role.OPERATOR.allows(Role.ADMIN)
