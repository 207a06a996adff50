"""A live view of a running workflow: each step pending/running/done/failed, and elapsed time."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from podium.cli._render import status_text

if TYPE_CHECKING:
    from podium.store import Event

_STATUS_OF = {
    "step_started": "running",
    "step_succeeded": "succeeded",
    "step_failed": "failed",
    "step_skipped": "skipped",
    "approval_requested": "waiting",
    "step_cancelled": "cancelled",
}


class LiveProgress:
    """Journal observer that redraws a table of steps as their events arrive."""

    MAX_ROWS = 30

    def __init__(self, console: Console, title: str) -> None:
        self.title = title
        self.started = time.monotonic()
        self.steps: dict[str, tuple[str, str, float]] = {}
        self._live = Live(
            console=console, refresh_per_second=8, transient=False, get_renderable=self._render
        )

    def __call__(self, run_id: str, event: Event) -> None:
        status = _STATUS_OF.get(event.type)
        if status is None or event.step is None:
            return
        model = event.data.get("model") or (self.steps.get(event.step, ("", "", 0.0))[1])
        first = self.steps.get(event.step, ("", "", time.monotonic()))[2]
        self.steps[event.step] = (status, str(model or ""), first)

    def _render(self) -> Group:
        counts: dict[str, int] = {}
        for status, _, _ in self.steps.values():
            counts[status] = counts.get(status, 0) + 1
        elapsed = time.monotonic() - self.started
        summary = "  ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        header = Text(f"{self.title}  {elapsed:.1f} s  {summary}")
        table = Table(show_edge=False, box=None, padding=(0, 2))
        table.add_column("step")
        table.add_column("status")
        table.add_column("model")
        rows = list(self.steps.items())
        hidden = max(0, len(rows) - self.MAX_ROWS)
        for key, (status, model, _) in rows[hidden:]:
            table.add_row(key, status_text(status), model)
        parts: list[Text | Table] = [header, table]
        if hidden:
            parts.append(Text(f"... and {hidden} earlier step(s)", style="dim"))
        return Group(*parts)

    def __enter__(self) -> LiveProgress:
        self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.__exit__(exc_type, exc, tb)
