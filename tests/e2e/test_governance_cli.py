"""Governance through the real `podium` command: budgets under 20 concurrent processes,
a policy's approval pausing a run until `podium approve`, `podium policy check`, and the
audit log after a SIGKILL."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cli_support import FIXTURES, Cli

RACE = FIXTURES / "budget_race.py"


def _race(cli: Cli) -> None:
    """20 processes at once against a budget of exactly 10 calls of 0.1 for tenant acme."""
    budget = f"race-{uuid.uuid4().hex[:8]}"
    policy = cli.write(
        "policy.yaml",
        f"budgets:\n  - {{name: {budget}, per: tenant, max_cost: 1.0, period: total}}\n",
    )
    go = cli.root / "go"
    home = str(cli.root / "home")
    procs = [
        subprocess.Popen(
            [sys.executable, str(RACE), home, str(policy), str(go), f"call-{i}", budget],
            env=cli.env,
            cwd=cli.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(20)
    ]
    time.sleep(0.5)
    go.touch()
    results = [p.communicate(timeout=110) for p in procs]
    for (out, err), p in zip(results, procs, strict=True):
        assert p.returncode == 0 and out, err
    outs = [json.loads(out) for out, _ in results]
    succeeded = [o for o in outs if o["status"] == "succeeded"]
    assert len(succeeded) == 10, [o.get("error") for o in outs]
    assert len(cli.lines()) == 10  # exactly ten calls reached the model
    stopped = [o for o in outs if o["status"] == "failed"]
    assert all(f"refused by rule 'budget:{budget}'" in o["error"] for o in stopped)
    verified = cli("audit", "verify")
    assert verified.returncode == 0, verified.stderr


@pytest.mark.slow
def test_twenty_processes_never_overshoot_a_budget_on_sqlite(cli: Cli) -> None:
    _race(cli)


@pytest.mark.slow
def test_twenty_processes_never_overshoot_a_budget_on_postgresql(pg_cli: Cli) -> None:
    _race(pg_cli)  # a schema of its own: nothing left by another run of the tests


APPROVAL_POLICY = """
rules:
  - name: shouting-needs-review
    for: {capabilities: [text.upper]}
    approve:
      when: "${{ len(inputs.text) > 10 }}"
      prompt: "Long text: shout it?"
"""
SHOUT = """
name: shout
inputs: {message: string}
steps:
  loud: {uses: capability/text.upper, with: {text: "${{ inputs.message }}"}}
outputs: {text: "${{ steps.loud.output.text }}"}
"""


def test_a_policy_approval_pauses_a_run_until_podium_approve(cli: Cli) -> None:
    cli.write("policy.yaml", APPROVAL_POLICY)
    cli.write("shout.yaml", SHOUT)
    cli.env["PODIUM_POLICY"] = str(cli.root / "policy.yaml")
    short = cli.json("run", "shout.yaml", "-i", "message=hi")
    assert short["status"] == "succeeded"
    paused = cli.json("run", "shout.yaml", "-i", "message=a rather long message")
    assert paused["status"] == "waiting"
    assert [s["step"] for s in paused["steps"] if s["status"] == "waiting"] == ["loud"]
    done = cli("approve", paused["run_id"], "loud", "--json")
    assert done.returncode == 0, done.stderr
    approved = json.loads(done.stdout)
    assert approved["status"] == "succeeded"
    assert approved["outputs"] == {"text": "A RATHER LONG MESSAGE"}
    exported = [json.loads(line) for line in cli("audit", "export").stdout.splitlines()]
    kinds = [r["kind"] for r in exported if r["run_id"] == paused["run_id"]]
    assert kinds == [
        "run.started",
        "route.decision",
        "approval.requested",
        "run.waiting",
        "approval.decided",
        "run.resumed",
        "route.decision",
        "model.call",
        "run.finished",
    ]


def test_policy_check_names_file_line_and_field(cli: Cli) -> None:
    cli.write("good.yaml", APPROVAL_POLICY)
    assert cli("policy", "check", "good.yaml").returncode == 0
    cli.write("bad.yaml", "rules:\n  - name: a\n    forbid: {colours: [red]}\n")
    done = cli("policy", "check", "bad.yaml")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: bad.yaml:3: rules[0].forbid.colours: unknown field; expected one of models, tags"
    )
    assert "Traceback" not in done.stderr


CHAIN = """
name: killed
steps:
  s1: {uses: model/recorder, with: {text: s1, delay: 0.2}}
  fan:
    map: ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"]
    concurrency: 2
    after: [s1]
    step: {uses: model/recorder, with: {text: "${{ item }}", delay: 0.2}}
  s2: {uses: model/recorder, with: {text: "s2", delay: 0.2}, after: [fan]}
"""


@pytest.mark.slow
def test_after_a_sigkill_the_log_verifies_and_every_event_has_its_record(cli: Cli) -> None:
    cli.write("killed.yaml", CHAIN)
    proc = cli.popen("run", "killed.yaml", "--json")
    deadline = time.monotonic() + 60
    while _committed_calls(cli.root / "home" / "podium.db") < 4:  # then kill mid-map
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    verified = cli("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    _every_event_has_its_record(cli.root / "home" / "podium.db")
    run_id = cli.json("runs", "list")[0]["run_id"]
    assert cli.json("runs", "resume", run_id)["status"] == "succeeded"
    assert cli("audit", "verify").returncode == 0
    _every_event_has_its_record(cli.root / "home" / "podium.db")


def _committed_calls(path: Path) -> int:
    """Model calls whose success is committed (side-effect lines can run ahead of that)."""
    try:
        db = sqlite3.connect(path)
        try:
            rows = db.execute(
                "SELECT data FROM podium_events WHERE type = 'step_succeeded'"
            ).fetchall()
        finally:
            db.close()
    except sqlite3.OperationalError:  # not created yet, or busy for a moment
        return 0
    return sum("latency_ms" in json.loads(data) for (data,) in rows)


def _every_event_has_its_record(path: Path) -> None:
    """Each event the audit covers has exactly one record with its run, time and step."""
    db = sqlite3.connect(path)
    try:
        events = db.execute("SELECT run_id, ts, type, step, data FROM podium_events").fetchall()
        records = db.execute("SELECT run_id, ts, kind, data FROM podium_audit").fetchall()
    finally:
        db.close()
    kinds = {
        "run_started": "run.started",
        "run_resumed": "run.resumed",
        "run_succeeded": "run.finished",
        "run_failed": "run.finished",
        "step_succeeded": "model.call",
        "attempt_failed": "model.failed",
    }
    index: dict[tuple[str, float, str], list[str | None]] = {}
    for run_id, ts, kind, data in records:
        index.setdefault((run_id, ts, kind), []).append(json.loads(data).get("step"))
    checked = 0
    for run_id, ts, kind, step, data in events:
        wanted = kinds.get(kind)
        if wanted is None or (kind == "step_succeeded" and "latency_ms" not in json.loads(data)):
            continue
        found = index.get((run_id, ts, wanted), [])
        assert (step if wanted.startswith("model.") else None) in found, (kind, step)
        checked += 1
    assert checked >= 5
