"""Helpers to run the real ``podium`` command in a subprocess with its own home."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


class Cli:
    """Runs ``podium`` with PODIUM_HOME in a temp folder and the fixture models importable."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / "side_effects.log"
        self.env = os.environ | {
            "PODIUM_HOME": str(root / "home"),
            "PODIUM_TEST_LOG": str(self.log),
            "PYTHONPATH": str(FIXTURES),
            "COLUMNS": "200",
        }
        self.env.pop("PODIUM_DATABASE_URL", None)
        exe = shutil.which("podium", path=str(Path(sys.executable).parent))
        self.command = [exe] if exe else [sys.executable, "-m", "podium"]

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*self.command, *args],
            env=self.env,
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def json(self, *args: str) -> Any:
        done = self(*args, "--json")
        assert done.returncode in (0, 1), done.stderr
        return json.loads(done.stdout)

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text)
        return path


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    runner = Cli(tmp_path)
    done = runner("models", "register", str(FIXTURES / "models.yaml"))
    assert done.returncode == 0, done.stderr
    return runner


@pytest.fixture
def pg_cli(tmp_path: Path) -> Iterator[Cli]:
    """Like ``cli``, with the store in a PostgreSQL schema of its own (PODIUM_DATABASE_URL)."""
    from pgtest import fresh_schema

    with fresh_schema("e2e") as url:
        runner = Cli(tmp_path)
        runner.env["PODIUM_DATABASE_URL"] = url
        done = runner("models", "register", str(FIXTURES / "models.yaml"))
        assert done.returncode == 0, done.stderr
        yield runner


CliFactory = Callable[[], Cli]
