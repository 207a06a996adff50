"""Bounds the loader checks while it builds a workflow: size, nesting and step count."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from podium._limits import Limits
from podium.errors import UserError

Fail = Callable[[str, list[str | int]], UserError]


def check_document(doc: Any, limits: Limits, fail: Fail) -> None:
    """Refuse an in-memory document (not read from YAML) that is too big or nests too deep.

    YAML files are measured while they are parsed; a mapping handed in from Python or
    read back from a run's snapshot is measured here, in one iterative walk, so that
    nothing after it can run out of stack or memory. Shared sub-objects count each time
    they appear but are walked once; a document that contains itself is refused.
    """
    sizes: dict[int, tuple[int, int]] = {}  # id(value) -> (values, depth below)
    active: set[int] = set()
    stack: list[tuple[Any, list[str | int], bool]] = [(doc, [], False)]
    while stack:
        value, path, finished = stack.pop()
        children = _children(value)
        if finished:
            active.discard(id(value))
            parts = [sizes.get(id(child), (1, 0)) for _, child in children]
            size = 1 + sum(p[0] for p in parts)
            sizes[id(value)] = (size, 1 + max((p[1] for p in parts), default=0))
            if size > limits.yaml_nodes:
                raise fail(limits.exceeded("yaml_nodes", size, "value count"), path)
            continue
        if not isinstance(value, Mapping | list | tuple):
            continue
        known = sizes.get(id(value))
        if known is None and id(value) in active:
            raise fail("the document contains itself", path)
        reach = len(path) + (known[1] if known else 1)
        if reach > limits.yaml_depth:
            raise fail(limits.exceeded("yaml_depth", reach, "nesting depth"), path)
        if known is not None:
            continue
        active.add(id(value))
        stack.append((value, path, True))
        stack.extend((child, [*path, key], False) for key, child in reversed(children))


def _children(value: Any) -> list[tuple[str | int, Any]]:
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    return []


class StepBudget:
    """Counts the steps one load declares, nested and sub-workflow steps included, and how
    deeply steps nest (loops, maps and sub-workflows, across files)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.count = 0

    def take(self, fail: Fail, path: list[str | int], depth: int) -> None:
        """Count one more step at ``path``, nested ``depth`` steps deep."""
        self.count += 1
        if self.count > self.limits.workflow_steps:
            what = "step count with nested and sub-workflow steps"
            raise fail(self.limits.exceeded("workflow_steps", self.count, what), path)
        if depth > self.limits.yaml_depth:
            what = "nesting of steps in loops, maps and sub-workflows"
            raise fail(self.limits.exceeded("yaml_depth", depth, what), path)

    def iterations(self, fail: Fail, path: list[str | int], value: int) -> None:
        """Refuse a loop's ``max_iterations`` over the limit."""
        if value > self.limits.loop_iterations:
            raise fail(self.limits.exceeded("loop_iterations", value, "max_iterations"), path)
