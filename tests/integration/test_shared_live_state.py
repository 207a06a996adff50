"""Routing state shared by real processes through one SQLite file and through PostgreSQL:
statistics add up (no lost update), a breaker opened in one process is open in another
within the sync interval, and a rate limit holds in total across processes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgtest import empty_database
from podium import Orchestrator
from podium.store import open_store

WORKER = Path(__file__).with_name("live_worker.py")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_database(request.param, tmp_path, "shared") as made:
        yield made


def start(url: str, tmp_path: Path, jobs: list[list[str]], code: int = 0) -> None:
    """Run one worker per job, all beginning together; each must end with ``code``."""
    open_store(url).close()  # the schema exists before they race to use it
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    begin = f"{barrier}:{len(jobs)}"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), url, job[0], begin, *job[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for job in jobs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=100)
        assert proc.returncode == code, err[-3000:]


@pytest.mark.slow
def test_statistics_from_three_processes_add_up(url: str, tmp_path: Path) -> None:
    plan = [(30, 2), (44, 1), (26, 3)]  # (answered calls, failed calls) per process
    jobs = [
        ["calls", str(tmp_path / f"h{i}"), str(ok), str(bad)] for i, (ok, bad) in enumerate(plan)
    ]
    start(url, tmp_path, jobs)
    store = open_store(url)
    try:
        [(key, numbers)] = store.counters("routing.stats")[0].items()
        sessions = store.counters("routing.sessions")[0]
    finally:
        store.close()
    answered = sum(ok for ok, _ in plan)
    failed = sum(bad for _, bad in plan)
    assert key == "echo@0.1.0|t.echo"
    assert numbers["calls"] == answered + failed
    assert numbers["ok_calls"] == answered and numbers["errors"] == failed
    assert sum(v for n, v in numbers.items() if n.startswith("h:")) == answered
    assert 0.0 < numbers["ewma_ms"] < 1000.0 and 0.0 < numbers["availability"] < 1.0
    assert len(sessions) == 3 and all(s["alive_at"] == 0.0 for s in sessions.values())
    # a new process reads the sum (and replays nothing: everything was pushed)
    with Orchestrator(home=tmp_path / "reader", database_url=url, discover=False) as orch:

        @orch.model(capabilities=["t.echo"])
        def echo(text: str) -> dict[str, str]:
            return {"text": text}

        stats = orch.router.model_stats("echo@0.1.0")  # type: ignore[attr-defined]
        assert stats is not None
        assert (stats["calls"], stats["errors"]) == (answered + failed, failed)


@pytest.mark.slow
@pytest.mark.parametrize("url", ["sqlite"], indirect=True)
def test_the_calls_of_a_killed_process_are_counted_once_by_the_next(
    url: str, tmp_path: Path
) -> None:
    """A process SIGKILLed before it pushed anything: the next one replays its calls from
    the event log (its pid is gone), once, and then pushes them like its own."""
    start(url, tmp_path, [["crash", str(tmp_path / "dead"), "7"]], code=-9)
    for home in ("first", "second"):
        with Orchestrator(home=tmp_path / home, database_url=url, discover=False) as orch:

            @orch.model(capabilities=["t.echo"])
            def echo(text: str) -> dict[str, str]:
                return {"text": text}

            stats = orch.router.model_stats("echo@0.1.0")  # type: ignore[attr-defined]
            assert stats is not None and stats["calls"] == 7, home


@pytest.mark.slow
def test_a_breaker_opened_in_one_process_is_open_in_another(url: str, tmp_path: Path) -> None:
    folder = tmp_path / "signals"
    folder.mkdir()
    jobs = [
        ["watch", str(tmp_path / "w"), str(folder)],
        ["trip", str(tmp_path / "t"), str(folder)],
    ]
    start(url, tmp_path, jobs)
    tripped = json.loads((folder / "tripped").read_text())
    seen = json.loads((folder / "seen_open").read_text())
    closed = json.loads((folder / "closed").read_text())
    seen_closed = json.loads((folder / "seen_closed").read_text())
    assert seen["refused"] and "circuit open" in seen["refused"]
    # within the sync interval (0.2 s), with room for a loaded machine
    assert -0.5 < seen["at"] - tripped < 2.0
    assert -0.5 < seen_closed - closed < 2.0


@pytest.mark.slow
def test_a_rate_limit_holds_across_processes(url: str, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    per_s, each, burst = 40.0, 30, 5
    jobs = [["limited", str(tmp_path / f"h{i}"), str(each), str(per_s), str(log)] for i in range(3)]
    start(url, tmp_path, jobs)
    times = sorted(float(line) for line in log.read_text().split())
    assert len(times) == 3 * each
    # Every window of calls respects the limit. Tokens are taken from the database a few
    # at a time (0.1 s worth: 4 here) and spent a little later, so a window may also hold
    # what each process had in hand: (n - burst - 3 * 1.5 * 4) / per_s seconds for n calls.
    in_hand = 3 * 6
    for first in range(0, len(times), 5):
        for last in range(first + burst + in_hand, len(times), 5):
            calls = last - first + 1
            assert times[last] - times[first] >= (calls - burst - in_hand) / per_s, (first, last)
    # and the limit is the total: the three alone would each have been done in a third
    assert times[-1] - times[0] >= (3 * each - burst) / per_s * 0.9
