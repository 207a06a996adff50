"""Workflow documents that arrive over HTTP: what they may not contain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podium._yaml import line_of
from podium.errors import WorkflowError


def refuse_files(document: Any, located: Any = None) -> None:
    """Workflows that arrive over HTTP cannot name sub-workflow files on the server."""
    _walk_steps(document, ["steps"], located if located is not None else document)


def _walk_steps(document: Any, path: list[str | int], located: Any) -> None:
    if not isinstance(document, Mapping):
        return
    steps = document.get("steps")
    if not isinstance(steps, Mapping):
        return
    for step_id, step in steps.items():
        if not isinstance(step, Mapping):
            continue
        here: list[str | int] = [*path, str(step_id)]
        if "workflow" in step:
            field = [*here, "workflow"]
            raise WorkflowError(
                "a workflow sent to the server cannot include a sub-workflow file; "
                "inline its steps instead",
                line=line_of(located, field),
                field=".".join(str(p) for p in field),
            )
        inner = step.get("step")
        if isinstance(inner, Mapping):
            _walk_steps({"steps": {"step": inner}}, here, located)
        loop = step.get("loop")
        if isinstance(loop, Mapping):
            _walk_steps(loop, [*here, "loop", "steps"], located)
