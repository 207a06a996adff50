"""Real storage faults under a real `podium run`: a full filesystem and a read-only file.

The home lives on its own small tmpfs (the test mounts one; it needs root) so it can be
filled; a read-only database is made with ``chattr +i``, which holds even for root and for
files already open. A fault that heals within the retry budget costs nothing; one that
lasts stops the run with one line and exit 1, and the run resumes once it is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import FIXTURES, Cli

ITEMS = 1500

FAN = """
name: fan
steps:
  fan:
    map: "${{ inputs.items }}"
    concurrency: 4
    step: {uses: model/recorder, with: {text: "${{ item }}", delay: 0.002}}
inputs: {items: array}
outputs: {n: "${{ len(steps.fan.output) }}"}
"""


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"cannot mount a tmpfs under CI: {done.stderr}")
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _prepare(cli: Cli, home: Path) -> Cli:
    cli.env["PODIUM_HOME"] = str(home)
    cli.env["PODIUM_WRITE_RETRY_S"] = "1.0"
    done = cli("models", "register", str(FIXTURES / "models.yaml"))
    assert done.returncode == 0, done.stderr
    cli.write("fan.yaml", FAN)
    items = ", ".join(f'"i{i}"' for i in range(ITEMS))
    cli.write("items.json", f'{{"items": [{items}]}}')
    return cli


@pytest.fixture
def small_home(tmp_path: Path) -> Iterator[Cli]:
    if not _can_mount():
        if os.environ.get("CI") == "true":
            raise AssertionError("the real storage fault tests need root under CI")
        pytest.skip("needs root to mount a tmpfs")
    with tmpfs(tmp_path / f"fs-{uuid.uuid4().hex[:6]}", "48m") as mount:
        yield _prepare(Cli(tmp_path), mount / "home")


@pytest.fixture
def disk_home(tmp_path: Path) -> Cli:
    """A home on the test's own filesystem (tmpfs ignores chattr for open files)."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    done = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, text=True, check=False)
    subprocess.run(["chattr", "-i", str(probe)], capture_output=True, check=False)
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"chattr +i must work under CI: {done.stderr}")
        pytest.skip(f"chattr +i does not work here: {done.stderr.strip()}")
    return _prepare(Cli(tmp_path), tmp_path / "home")


def _db(cli: Cli) -> Path:
    return Path(cli.env["PODIUM_HOME"]) / "podium.db"


def _recorded(cli: Cli) -> int:
    return len(cli.lines())


def _wait(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _fill(mount: Path) -> Path:
    """Take every free byte of the filesystem."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def _run_id(cli: Cli) -> str:
    with sqlite3.connect(f"file:{_db(cli)}?mode=ro", uri=True) as db:
        row = db.execute("select run_id from podium_runs order by started_at desc").fetchone()
    db.close()
    return str(row[0])


def _check_resumes(cli: Cli, run_id: str) -> None:
    before = Counter(cli.lines())
    resumed = cli.json("runs", "resume", run_id)
    assert resumed["status"] == "succeeded" and resumed["outputs"] == {"n": ITEMS}, resumed
    after = Counter(cli.lines())
    assert all(after[f"i{i}"] >= 1 for i in range(ITEMS))
    redone = sum(after[k] - 1 for k in before if after[k] > 1)
    assert redone <= 16, redone  # only items in flight or unwritten when it stopped
    shown = cli("runs", "show", run_id, "--json")
    assert shown.returncode == 0 and "warning" not in shown.stderr


@pytest.mark.slow
def test_a_full_disk_stops_the_run_cleanly_and_it_resumes(small_home: Cli) -> None:
    cli = small_home
    mount = Path(cli.env["PODIUM_HOME"]).parent
    proc = cli.popen("run", "fan.yaml", "--input-file", "items.json", "--json")
    _wait(lambda: _recorded(cli) >= 300)
    filler = _fill(mount)
    out, err = proc.communicate(timeout=60)
    recorded_at_stop = _recorded(cli)
    assert proc.returncode == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "podium runs resume" in lines[0] and "Traceback" not in err
    assert recorded_at_stop < ITEMS  # it did not carry on calling models
    filler.unlink()
    _check_resumes(cli, _run_id(cli))


@pytest.mark.slow
def test_a_disk_full_for_a_moment_loses_nothing(small_home: Cli) -> None:
    cli = small_home
    mount = Path(cli.env["PODIUM_HOME"]).parent
    proc = cli.popen("run", "fan.yaml", "--input-file", "items.json", "--json")
    _wait(lambda: _recorded(cli) >= 300)
    filler = _fill(mount)
    time.sleep(0.15)
    filler.unlink()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert '"status": "succeeded"' in out and "Traceback" not in err
    run_id = _run_id(cli)
    shown = cli("runs", "show", run_id, "--json")
    assert shown.returncode == 0 and "warning" not in shown.stderr, shown.stderr
    with sqlite3.connect(_db(cli)) as db:
        done = db.execute(
            "select count(*) from podium_events where run_id = ? and type = 'step_succeeded'",
            (run_id,),
        ).fetchone()[0]
    db.close()
    assert done == ITEMS + 1  # every item and the map itself


def _chattr(flag: str, *paths: Path) -> None:
    present = [str(p) for p in paths if p.exists()]
    subprocess.run(["chattr", flag, *present], check=True)


@pytest.mark.slow
def test_a_read_only_database_stops_the_run_cleanly_and_it_resumes(disk_home: Cli) -> None:
    cli = disk_home
    db = _db(cli)
    files = (db, db.with_name("podium.db-wal"))  # the shared-memory index stays writable
    proc = cli.popen("run", "fan.yaml", "--input-file", "items.json", "--json")
    _wait(lambda: _recorded(cli) >= 300)
    _chattr("+i", *files)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        _chattr("-i", *files)
    assert proc.returncode == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "podium runs resume" in lines[0] and "Traceback" not in err
    assert _recorded(cli) < ITEMS
    _check_resumes(cli, _run_id(cli))
