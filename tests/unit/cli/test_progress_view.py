"""The live progress view: step states and counts follow the run's events."""

from __future__ import annotations

import io

from rich.console import Console

from podium.cli._progress import LiveProgress
from podium.store import Event


def _render(view: LiveProgress) -> str:
    console = Console(file=io.StringIO(), width=100)
    console.print(view._render())
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_steps_move_through_their_states() -> None:
    view = LiveProgress(Console(file=io.StringIO()), "running triage")
    view("r", Event("step_started", "intent", {"model": "kw@1.0.0"}))
    view("r", Event("step_started", "tone", {"model": "vader@1.0.0"}))
    text = _render(view)
    assert "running: 2" in text and "kw@1.0.0" in text
    view("r", Event("step_succeeded", "intent", {"model": "kw@1.0.0"}))
    view("r", Event("step_failed", "tone", {"error": "boom"}))
    view("r", Event("step_skipped", "escalate", {}))
    view("r", Event("run_succeeded", None, {}))  # run events are not rows
    text = _render(view)
    assert "succeeded: 1" in text and "failed: 1" in text and "skipped: 1" in text
    assert "vader@1.0.0" in text  # the model is remembered after the step ends


def test_long_runs_show_the_latest_rows_and_say_how_many_are_hidden() -> None:
    view = LiveProgress(Console(file=io.StringIO()), "fan-out")
    for i in range(LiveProgress.MAX_ROWS + 5):
        view("r", Event("step_started", f"m[{i}]", {}))
    text = _render(view)
    assert f"m[{LiveProgress.MAX_ROWS + 4}]" in text
    assert "m[0]" not in text
    assert "and 5 earlier step(s)" in text
