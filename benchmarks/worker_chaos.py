"""Chaos across workers: queued runs survive workers killed with SIGKILL.

N runs of a 10-step chain are queued; W ``podium worker`` processes drain them while,
every few seconds, a random worker is SIGKILLed and a new one started. Every step appends
a line (run, step, attempt, time, pid) to a side-effect file. Checked at the end:

* every run succeeded with the right output, and none is lost;
* every step has exactly one ``step_succeeded`` in its run's log, and no impossible event;
* no finished step ran again: every line of a step (start or done) was written before
  the step's ``step_succeeded`` was recorded. A step that was in flight when its worker
  died runs again: ``steps_run_again_in_flight`` counts those executions (start lines
  beyond one per step), ``side_effects_twice`` the ones whose first try had already
  finished its side effect, but not recorded it, when it was killed.

    python benchmarks/worker_chaos.py [--runs 200] [--workers 3] [--kill-every 3]
        [--database sqlite|postgresql] [--json]

PostgreSQL uses $PODIUM_TEST_POSTGRES_URL (its podium tables are dropped first).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

MODELS = """\
- name: chaos-step
  version: 1.0.0
  description: Appends a line to $CHAOS_LOG, sleeps, appends another.
  capabilities: [chaos.step]
  input: {text: string, delay: number}
  output: {text: string}
  runtime: {kind: python, target: "chaos_models:step", inline: false}
"""
CODE = """\
import os, time

def _line(ctx, phase: str) -> None:
    line = f"{ctx.run_id} {ctx.step} {ctx.attempt} {time.time():.6f} {os.getpid()} {phase}\\n"
    fd = os.open(os.environ["CHAOS_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)

def step(text: str, delay: float, podium_context) -> dict:
    _line(podium_context, "start")
    time.sleep(delay)
    _line(podium_context, "end")
    return {"text": text + "."}
"""


def chain(steps: int, delay: float) -> dict[str, Any]:
    body: dict[str, Any] = {
        "s0": {"uses": "model/chaos-step", "with": {"text": "${{ inputs.seed }}", "delay": delay}}
    }
    for i in range(1, steps):
        body[f"s{i}"] = {
            "uses": "model/chaos-step",
            "with": {"text": f"${{{{ steps.s{i - 1}.output.text }}}}", "delay": delay},
        }
    return {
        "name": "chaos",
        "inputs": {"seed": "string"},
        "steps": body,
        "outputs": {"text": f"${{{{ steps.s{steps - 1}.output.text }}}}"},
    }


def fresh_postgres(url: str, prefix: str = "chaos") -> str:
    """A URL whose connections use a new, empty schema of this process's own on the
    server at ``url`` (dropped when the process exits), so that neither an earlier run's
    tables nor a run at the same time on the same server get in the way."""
    import atexit
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()

    atexit.register(drop)
    made = make_url(url).update_query_dict({"options": f"-c search_path={schema}"})
    return made.render_as_string(hide_password=False)


def podium_command() -> list[str]:
    exe = shutil.which("podium", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "podium"]


def _lines(log: Path) -> int:
    try:
        with log.open("rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0


def run_chaos(
    root: Path,
    *,
    runs: int = 200,
    steps: int = 10,
    workers: int = 3,
    concurrency: int = 8,
    kill_every: float = 3.0,
    delay: float = 0.02,
    database: str = "sqlite",
    timeout_s: float = 600.0,
    seed: int = 7,
    first_kill_at_lines: int = 0,
) -> dict[str, Any]:
    """Run the scenario under ``root``; returns the report (raises AssertionError if a
    check fails). With ``first_kill_at_lines``, the first kill comes as soon as the side
    effects log has that many lines (so a fast machine cannot finish before any kill),
    the next ones every ``kill_every`` seconds."""
    import podium

    rng = random.Random(seed)
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    (root / "chaos_models.py").write_text(CODE)
    (root / "models.yaml").write_text(MODELS)
    log = root / "side_effects.log"
    if database == "postgresql":
        url = os.environ.get("PODIUM_TEST_POSTGRES_URL")
        if not url:
            raise SystemExit("set PODIUM_TEST_POSTGRES_URL for --database postgresql")
        url = fresh_postgres(url)
    else:
        url = f"sqlite:///{home / 'podium.db'}"
    env = os.environ | {
        "PODIUM_HOME": str(home),
        "PODIUM_DATABASE_URL": url,
        "CHAOS_LOG": str(log),
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    sys.path.insert(0, str(root))
    os.environ["CHAOS_LOG"] = str(log)
    orch = podium.Orchestrator(home=home, database_url=url, discover=False)
    orch.register(root / "models.yaml")
    flow = orch.load(chain(steps, delay))
    started = time.perf_counter()
    ids = [orch.submit(flow, {"seed": f"r{i}"}) for i in range(runs)]
    submit_s = time.perf_counter() - started

    command = [*podium_command(), "worker", "--concurrency", str(concurrency), "--grace", "1"]
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []
    spawned = 0

    def spawn() -> None:
        nonlocal spawned
        spawned += 1
        errors = open(root / f"worker-{spawned}.log", "wb")  # noqa: SIM115 - closed at the end
        logs.append(errors)
        procs.append(subprocess.Popen(command, env=env, cwd=root, stdout=errors, stderr=errors))

    for _ in range(workers):
        spawn()
    kills = 0
    began = time.perf_counter()
    next_kill = began + kill_every
    finished = 0
    while True:
        counts = orch.store.queue_counts().get("default", {})
        open_runs = counts.get("pending", 0) + counts.get("running", 0)
        finished = runs - open_runs
        if open_runs == 0:
            break
        now = time.perf_counter()
        if now - began > timeout_s:
            break
        due = now >= next_kill
        if first_kill_at_lines and kills == 0:
            due = _lines(log) >= first_kill_at_lines
        if kill_every > 0 and due:
            victim = rng.choice([p for p in procs if p.poll() is None])
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            procs.remove(victim)
            kills += 1
            spawn()
            next_kill = now + kill_every
        time.sleep(0.05)
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for handle in logs:
        handle.close()

    report = check(orch, ids, steps, log)
    orch.close()
    report |= {
        "database": database,
        "runs": runs,
        "steps_per_run": steps,
        "workers": workers,
        "concurrency": concurrency,
        "kills": kills,
        "workers_started": spawned,
        "finished_runs": finished,
        "seconds": round(elapsed, 2),
        "runs_per_s": round(runs / elapsed, 1),
        "submit_ms_per_run": round(submit_s * 1000 / runs, 2),
    }
    return report


def check(orch: Any, ids: list[str], steps: int, log: Path) -> dict[str, Any]:
    """The checks in the module's docstring; returns what was counted."""
    lines: dict[tuple[str, str], list[float]] = {}  # every line's time, start and end
    phases: Counter[str] = Counter()
    for raw in log.read_text().splitlines():
        run_id, step, _attempt, at, _pid, phase = raw.split()
        lines.setdefault((run_id, step), []).append(float(at))
        phases[phase] += 1
    statuses: Counter[str] = Counter()
    problems: list[str] = []
    for run_id in ids:
        result = orch.get_run(run_id)
        statuses[str(result.status)] += 1
        if str(result.status) != "succeeded":
            problems.append(f"{run_id}: {result.status} {result.error}")
            continue
        if result.anomalies:
            problems.append(f"{run_id}: impossible events {result.anomalies}")
        seed = result.outputs and result.outputs.get("text")
        if seed != f"r{ids.index(run_id)}" + "." * steps:
            problems.append(f"{run_id}: wrong output {seed!r}")
        succeeded: dict[str, list[float]] = {}
        for event in orch.store.events(run_id):
            if event.type == "step_succeeded" and event.step:
                succeeded.setdefault(event.step, []).append(event.ts)
        for i in range(steps):
            step = f"s{i}"
            ends = succeeded.get(step, [])
            if len(ends) != 1:
                problems.append(f"{run_id}/{step}: {len(ends)} step_succeeded events")
                continue
            written = lines.get((run_id, step), [])
            if not written:
                problems.append(f"{run_id}/{step}: no side effect")
            late = [t for t in written if t > ends[0]]
            if late:
                problems.append(f"{run_id}/{step}: ran again after it finished")
    expected = len(ids) * steps
    assert not problems, problems[:10]
    return {
        "statuses": dict(statuses),
        "steps": expected,
        "executions": phases["start"],
        "steps_run_again_in_flight": phases["start"] - expected,
        "side_effects_twice": phases["end"] - expected,
        "finished_step_reruns": 0,
        "lost_runs": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_chaos(
            Path(tmp),
            runs=args.runs,
            steps=args.steps,
            workers=args.workers,
            concurrency=args.concurrency,
            kill_every=args.kill_every,
            delay=args.delay,
            database=args.database,
        )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:22} {value}")


if __name__ == "__main__":
    main()
