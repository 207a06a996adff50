"""Tampering with a real SQLite audit log: `podium audit verify` names the record each time."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import podium
from podium.governance._audit import anchor, verify

FLOW = {
    "name": "audited",
    "inputs": {"message": "string"},
    "steps": {
        "a": {"uses": "capability/text.shout", "with": {"text": "${{ inputs.message }}"}},
        "b": {"uses": "capability/text.shout", "with": {"text": "${{ steps.a.output.text }}"}},
    },
    "outputs": {"text": "${{ steps.b.output.text }}"},
}


def shout(text: str) -> dict[str, str]:
    return {"text": text.upper()}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home whose audit log holds three runs (20 records)."""
    with podium.Orchestrator(tmp_path, discover=False) as orch:
        orch.register_callable(shout, capabilities=["text.shout"], cost=0.001)
        for word in ("one", "two", "three"):
            assert orch.run(FLOW, {"message": word}).ok
    return tmp_path


def _verify(home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PODIUM_HOME": str(home)}
    env.pop("PODIUM_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "podium", "audit", "verify", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _fault(home: Path) -> str:
    """What verify says of the log (in this process: the same code the command runs)."""
    with podium.Orchestrator(home, discover=False) as orch:
        verdict = verify(orch.store)
    assert not verdict.ok
    return str(verdict.fault)


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "podium.db", isolation_level=None)


def _count(home: Path) -> int:
    with _db(home) as db:
        return int(db.execute("SELECT count(*) FROM podium_audit").fetchone()[0])


def test_an_untouched_log_verifies_with_its_count(home: Path) -> None:
    done = _verify(home)
    assert done.returncode == 0, done.stderr
    assert f"{_count(home)} records checked" in done.stdout


def test_a_changed_field_is_named(home: Path) -> None:
    with _db(home) as db:
        db.execute("UPDATE podium_audit SET cost = 0 WHERE seq = 5")
    done = _verify(home)
    assert done.returncode == 1
    assert "record 5 altered" in done.stderr


def test_a_changed_detail_is_named(home: Path) -> None:
    with _db(home) as db:
        data = db.execute("SELECT data FROM podium_audit WHERE seq = 7").fetchone()[0]
        db.execute("UPDATE podium_audit SET data = ? WHERE seq = 7", (data.replace("a", "b", 1),))
    assert "record 7 altered" in _fault(home)


def test_a_deleted_row_is_named(home: Path) -> None:
    with _db(home) as db:
        db.execute("DELETE FROM podium_audit WHERE seq = 6")
    assert "record 6 removed" in _fault(home)


def test_an_inserted_row_is_named(home: Path) -> None:
    """A forger renumbers the tail and inserts a well-formed record chained to record 4."""
    from podium.store import AuditNote
    from podium.store._audit import chain

    with _db(home) as db:
        prev = db.execute("SELECT hash FROM podium_audit WHERE seq = 4").fetchone()[0]
        db.execute("UPDATE podium_audit SET seq = -seq WHERE seq > 4")
        db.execute("UPDATE podium_audit SET seq = -seq + 1 WHERE seq < 0")
        [forged] = chain([AuditNote("run.cancelled", 1.0, {"by": "mallory"})], 4, prev)
        db.execute("INSERT INTO podium_audit VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", tuple(forged))
    assert "record 5 inserted" in _fault(home)


def test_two_swapped_rows_are_named(home: Path) -> None:
    with _db(home) as db:
        db.execute("UPDATE podium_audit SET seq = -1 WHERE seq = 8")
        db.execute("UPDATE podium_audit SET seq = 8 WHERE seq = 9")
        db.execute("UPDATE podium_audit SET seq = 9 WHERE seq = -1")
    assert "record 8 reordered: it was written as record 9" in _fault(home)


def test_a_tail_cut_back_after_an_anchor_is_named(home: Path) -> None:
    with podium.Orchestrator(home, discover=False) as orch:
        kept = anchor(orch.store)
        head = int(kept.split(":")[0])
        assert verify(orch.store, kept).ok
    with _db(home) as db:
        db.execute("DELETE FROM podium_audit WHERE seq > ?", (head - 3,))
    with podium.Orchestrator(home, discover=False) as orch:
        assert verify(orch.store).ok  # without the anchor a cut tail looks whole
    done = _verify(home, "--anchor", kept)
    assert done.returncode == 1
    assert f"record {head} is missing: the log ends at record {head - 3}" in done.stderr


def test_a_rewritten_log_fails_its_anchor(home: Path) -> None:
    """Recomputing every hash after a change makes the chain whole again, but not the anchor."""
    from podium.store import AuditRecord
    from podium.store._audit import GENESIS, chain_hash

    with podium.Orchestrator(home, discover=False) as orch:
        kept = anchor(orch.store)
    with _db(home) as db:
        rows = [AuditRecord(*r) for r in db.execute("SELECT * FROM podium_audit ORDER BY seq")]
        prev = GENESIS
        for r in rows:
            cost = 0.0 if r.kind == "model.call" else r.cost  # the calls made free
            header = (r.seq, r.ts, r.kind, r.principal, r.tenant, r.workflow, r.run_id)
            new = chain_hash(prev, (*header, r.subject, cost), r.data)
            db.execute(
                "UPDATE podium_audit SET cost = ?, prev = ?, hash = ? WHERE seq = ?",
                (cost, prev, new, r.seq),
            )
            prev = new
    with podium.Orchestrator(home, discover=False) as orch:
        assert verify(orch.store).ok
        assert "does not match the anchor" in str(verify(orch.store, kept).fault)


def test_a_bad_anchor_is_a_usage_error(home: Path) -> None:
    from podium.errors import UserError

    with podium.Orchestrator(home, discover=False) as orch, pytest.raises(UserError) as caught:
        verify(orch.store, "not-a-hash")
    assert caught.value.field == "--anchor"
