"""Races between real processes on one store: exactly one of them wins, the other says why.

Each race is repeated many times, enough to catch one that is lost one time in ten.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest
from cli_support import Cli

TRIALS = 20

CHAIN = """
name: chain
inputs: {tag: string}
steps:
  s1: {uses: model/recorder, with: {text: "${{ inputs.tag }}-s1"}}
  s2: {uses: model/recorder, with: {text: "${{ inputs.tag }}-s2", delay: 0.2}, after: [s1]}
  s3: {uses: model/recorder, with: {text: "${{ inputs.tag }}-s3"}, after: [s2]}
outputs: {last: "${{ steps.s3.output.text }}"}
"""

GATED = """
name: gated
inputs: {tag: string}
steps:
  gate: {approval: {prompt: "go?"}}
  ship: {uses: model/recorder, with: {text: "${{ inputs.tag }}-ship"}, after: [gate]}
"""

# Starts TRIALS runs of chain.yaml at once in this process, then waits to be killed: each
# run has s1 recorded and s2 in flight.
ORPHANS = f"""
import asyncio, sys
import podium

async def main():
    orch = podium.Orchestrator()
    runs = [orch.arun("chain.yaml", {{"tag": f"t{{i}}"}}, run_id=f"orphan-{{i}}")
            for i in range({TRIALS})]
    await asyncio.gather(*runs)

asyncio.run(main())
"""


# Starts TRIALS runs of gated.yaml at once in this process; each stops waiting at its gate.
WAITERS = f"""
import asyncio
import podium

async def main():
    orch = podium.Orchestrator()
    runs = [orch.arun("gated.yaml", {{"tag": f"g{{i}}"}}, run_id=f"gated-{{i}}")
            for i in range({TRIALS})]
    for result in await asyncio.gather(*runs):
        assert result.status.value == "waiting", result.status

asyncio.run(main())
"""

#: Trials raced at the same moment: several pairs of processes at once keep the suite
#: short, and add load, which makes a lost race likelier rather than less.
AT_ONCE = 4


def _batches(items: list[str]) -> list[list[str]]:
    return [items[i : i + AT_ONCE] for i in range(0, len(items), AT_ONCE)]


def _events(cli: Cli, run_id: str) -> list[tuple[str, str | None]]:
    with sqlite3.connect(cli.root / "home" / "podium.db") as db:
        rows = db.execute(
            "select type, step from podium_events where run_id = ? order by seq", (run_id,)
        ).fetchall()
    db.close()
    return [(t, s) for t, s in rows]


def _run_with_tag(cli: Cli, tag: str) -> list[str]:
    with sqlite3.connect(cli.root / "home" / "podium.db") as db:
        rows = db.execute(
            "select run_id from podium_runs where inputs = ?",
            (json.dumps({"tag": tag}, separators=(",", ":")),),
        ).fetchall()
    db.close()
    return [r[0] for r in rows]


def _wait(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _orphans(cli: Cli) -> list[str]:
    """TRIALS runs whose process was killed with SIGKILL after their first step."""
    cli.write("chain.yaml", CHAIN)
    script = cli.write("orphans.py", ORPHANS)
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=cli.env, cwd=cli.root, stderr=subprocess.PIPE
    )

    _wait(lambda: cli.committed_successes()["s1"] == TRIALS)  # every s2 is sleeping
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    return [f"orphan-{i}" for i in range(TRIALS)]


@pytest.mark.slow
@pytest.mark.timeout(400)  # many trials of real processes each
def test_two_resumes_at_once_run_the_run_once(cli: Cli) -> None:
    run_ids = _orphans(cli)
    outcomes: Counter[str] = Counter()
    for batch in _batches(run_ids):
        pairs = {
            run_id: [cli.popen("runs", "resume", run_id, "--json") for _ in range(2)]
            for run_id in batch
        }
        for run_id, pair in pairs.items():
            done = [(*p.communicate(timeout=60), p.returncode) for p in pair]
            codes = sorted(code for _, _, code in done)
            assert codes == [0, 2], (run_id, done)
            loser = next(err for _, err, code in done if code == 2)
            assert loser.count("\n") == 1 and loser.startswith("error: "), loser
            assert "being run by" in loser or "claimed by" in loser or "nothing to resume" in loser
            outcomes["held" if "being run" in loser or "claimed" in loser else "finished"] += 1
            winner = json.loads(next(out for out, _, code in done if code == 0))
            assert winner["status"] == "succeeded"
            tag = run_id.replace("orphan-", "t")
            assert winner["outputs"] == {"last": f"{tag}-s3"}
    lines = Counter(cli.lines())
    for i in range(TRIALS):
        assert lines[f"t{i}-s1"] == 1  # finished before the kill: never again
        assert lines[f"t{i}-s3"] == 1  # run by exactly one of the two resumes
        assert lines[f"t{i}-s2"] <= 2  # in flight at the kill, so it may have run twice
    for run_id in run_ids:
        shown = cli("runs", "show", run_id, "--json")
        assert shown.returncode == 0 and "warning" not in shown.stderr, shown.stderr
        steps = [step for kind, step in _events(cli, run_id) if kind == "step_succeeded"]
        assert sorted(steps) == ["s1", "s2", "s3"]  # one success each, nothing doubled
    assert outcomes["held"] > 0


@pytest.mark.slow
@pytest.mark.timeout(400)  # many trials of real processes each
def test_approve_and_reject_at_once_decide_once(cli: Cli) -> None:
    cli.write("gated.yaml", GATED)
    script = cli.write("waiters.py", WAITERS)
    made = subprocess.run(
        [sys.executable, str(script)],
        env=cli.env,
        cwd=cli.root,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    run_ids = [f"gated-{i}" for i in range(TRIALS)]
    verdicts: Counter[str] = Counter()
    for batch in _batches(run_ids):
        racing = {
            run_id: {
                "approve": cli.popen("approve", run_id, "gate", "--by", "ann", "--json"),
                "reject": cli.popen("approve", run_id, "gate", "--reject", "--by", "bob", "--json"),
            }
            for run_id in batch
        }
        for run_id, procs in racing.items():
            done = {name: (*p.communicate(timeout=60), p.returncode) for name, p in procs.items()}
            codes = sorted(code for _, _, code in done.values())
            assert codes == [0, 2], (run_id, done)
            winner = next(name for name, (_, _, code) in done.items() if code == 0)
            loser_err = next(err for _, err, code in done.values() if code == 2)
            assert "already" in loser_err and loser_err.count("\n") == 1, loser_err
            verdicts[winner] += 1
            decided = [e for e in _events(cli, run_id) if e[0] == "approval_decided"]
            assert len(decided) == 1
            ship = [kind for kind, step in _events(cli, run_id) if step == "ship"]
            if winner == "approve":
                assert ship[-1] == "step_succeeded", ship
            else:
                assert ship[-1] == "step_skipped", ship
    assert sum(verdicts.values()) == TRIALS
    for run_id in run_ids[::AT_ONCE]:  # the log reads back whole, as the CLI shows it
        shown = cli.json("runs", "show", run_id)
        assert shown["status"] == "succeeded" and "anomalies" not in shown


PARALLEL_GATE = """
name: parallel-gate
inputs: {tag: string}
steps:
  slow: {uses: model/recorder, with: {text: "${{ inputs.tag }}-slow", delay: 3}}
  gate: {approval: {prompt: "go?"}}
  ship: {uses: model/recorder, with: {text: "${{ inputs.tag }}-ship"}, after: [gate]}
outputs: {shipped: "${{ steps.ship.output.text }}"}
"""


@pytest.mark.slow
@pytest.mark.timeout(400)  # many trials of real processes each
def test_approving_while_the_run_is_alive_hands_over_cleanly(cli: Cli) -> None:
    cli.write("parallel.yaml", PARALLEL_GATE)
    tags = [f"p{i}" for i in range(10)]
    for batch in _batches(tags):
        procs = {
            tag: cli.popen("run", "parallel.yaml", "-i", f"tag={tag}", "--json") for tag in batch
        }
        found: dict[str, str] = {}

        def requested(batch: list[str] = batch, found: dict[str, str] = found) -> bool:
            try:
                for tag in batch:
                    ids = [] if tag in found else _run_with_tag(cli, tag)
                    if ids:
                        found[tag] = ids[0]
                return all(
                    tag in found and ("approval_requested", "gate") in _events(cli, found[tag])
                    for tag in batch
                )
            except sqlite3.OperationalError:
                return False

        _wait(requested)
        approvals = {tag: cli.popen("approve", found[tag], "gate") for tag in batch}
        for tag in batch:
            run_id = found[tag]
            out_a, err_a = approvals[tag].communicate(timeout=60)
            assert approvals[tag].returncode == 0, err_a
            assert "continues in process" in out_a or "ship" in out_a
            out, err = procs[tag].communicate(timeout=60)
            final = cli.json("runs", "show", run_id)
            assert final["status"] == "succeeded", (final, out, err)
            assert final["outputs"] == {"shipped": f"{tag}-ship"}
            if "continues in process" in out_a:  # the live process took the decision
                assert procs[tag].returncode == 0 and json.loads(out)["status"] == "succeeded", err
            lines = Counter(cli.lines())
            assert lines[f"{tag}-ship"] == 1 and lines[f"{tag}-slow"] == 1
            kinds = [kind for kind, step in _events(cli, run_id) if step == "gate"]
            assert kinds.count("approval_decided") == 1
