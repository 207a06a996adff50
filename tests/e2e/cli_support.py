"""Running the real ``podium`` command in a subprocess with its own home (imported by the
end-to-end tests and their fixtures in ``conftest.py``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

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

    def committed_successes(self) -> Counter[str]:
        """Steps whose success is committed to this home's store, counted over every run.

        A model writes its side-effect line before its step is logged, so a test that kills
        a process "after step X" waits for this, not for the line.
        """
        url = self.env.get("PODIUM_DATABASE_URL")
        if url is None:
            path = self.root / "home" / "podium.db"
            if not path.exists():  # connecting would create it
                return Counter()
            url = f"sqlite:///{path}"
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT step FROM podium_events WHERE type = 'step_succeeded'")
                ).fetchall()
        except (OperationalError, ProgrammingError):  # not created yet, or busy for a moment
            return Counter()
        finally:
            engine.dispose()
        return Counter(step for (step,) in rows)


CliFactory = Callable[[], Cli]
