"""What a user's environment can get wrong: one line, exit code 2, nothing changed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from cli_support import Cli

GOOD = """
name: g
inputs: {message: string}
steps:
  a: {uses: model/upper, with: {text: "${{ inputs.message }}"}}
outputs: {x: "${{ steps.a.output.text }}"}
"""


def _one_line(done, *needles: str, code: int = 2) -> None:  # type: ignore[no-untyped-def]
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _home(cli: Cli, name: str) -> Path:
    home = cli.root / name
    home.mkdir()
    cli.env["PODIUM_HOME"] = str(home)
    return home / "podium.db"


def test_an_empty_database_file_is_refused_not_treated_as_new(cli: Cli) -> None:
    db = _home(cli, "empty-home")
    db.write_bytes(b"")
    old = time.time() - 60
    os.utime(db, (old, old))
    _one_line(cli("runs", "list"), "podium.db", "empty (0 bytes)")
    assert db.stat().st_size == 0  # nothing was written into it


def test_a_file_that_is_not_a_database_is_one_line(cli: Cli) -> None:
    db = _home(cli, "junk-home")
    junk = b"this is not sqlite at all\n" * 200
    db.write_bytes(junk)
    _one_line(cli("models", "list"), "podium.db", "not a database")
    assert db.read_bytes() == junk
    assert "sqlalche.me" not in cli("runs", "list").stderr


def test_a_bad_setting_names_its_variable(cli: Cli) -> None:
    cli.env["PODIUM_SQLITE_SYNCHRONOUS"] = "sometimes"
    _one_line(cli("runs", "list"), "PODIUM_SQLITE_SYNCHRONOUS")
    del cli.env["PODIUM_SQLITE_SYNCHRONOUS"]
    cli.env["PODIUM_LIMIT_MAP_ITEMS"] = "-3"
    _one_line(cli("runs", "list"), "PODIUM_LIMIT_MAP_ITEMS")
    del cli.env["PODIUM_LIMIT_MAP_ITEMS"]
    cli.env["PODIUM_WRITE_RETRY_S"] = "soon"
    _one_line(cli("runs", "list"), "PODIUM_WRITE_RETRY_S")
    del cli.env["PODIUM_WRITE_RETRY_S"]
    cli.env["PODIUM_EXECUTOR"] = "spark"
    _one_line(cli("runs", "list"), "PODIUM_EXECUTOR", "unknown executor 'spark'")


def test_a_bad_executor_in_a_workflow_is_one_line_and_starts_nothing(cli: Cli) -> None:
    cli.write("bad.yaml", GOOD.replace("steps:", "executor: {kind: ray, mode: threads}\nsteps:"))
    _one_line(cli("run", "bad.yaml", "-i", "message=hi"), "bad.yaml:4", "executor.mode")
    assert cli.json("runs", "list") == []


def test_an_input_file_that_is_a_folder_is_one_line(cli: Cli) -> None:
    cli.write("good.yaml", GOOD)
    (cli.root / "inputs").mkdir()
    before = cli.json("runs", "list")
    _one_line(cli("run", "good.yaml", "--input-file", "inputs"), "inputs", "is a folder")
    deep = "[" * 100_000 + "]" * 100_000
    cli.write("deep.json", deep)
    _one_line(cli("run", "good.yaml", "--input-file", "deep.json"), "deep.json")
    assert cli.json("runs", "list") == before


def test_a_strict_commit_setting_is_accepted(cli: Cli) -> None:
    cli.write("good.yaml", GOOD)
    cli.env["PODIUM_SQLITE_SYNCHRONOUS"] = "full"
    done = cli.json("run", "good.yaml", "-i", "message=hi")
    assert done["status"] == "succeeded"
