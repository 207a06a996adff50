"""The classes of data (``pii``, ``phi``, ``public``) each step of a workflow handles.

A workflow declares the class of an input (``inputs: {note: {type: string, class: phi}}``).
A step carries the classes of the inputs its expressions read and of every earlier step
whose output it reads (a model's answer about PHI is treated as PHI). The classes of a
step inside a map, loop or sub-workflow are those of the top-level step around it
(together with the classes a sub-workflow declares on its own inputs). This is
conservative: a class never gets lost on the way, it can only be added.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from podium.engine import Workflow
from podium.engine._expr import Template
from podium.engine._ir import Step, WorkflowStep

F = TypeVar("F")

_CACHE_ATTR = "_podium_data_classes"


def declared_classes(workflow: Workflow) -> dict[str, str]:
    """Input name -> its declared class."""
    found: dict[str, str] = {}
    for name, spec in workflow.inputs.items():
        if isinstance(spec, Mapping) and isinstance(spec.get("class"), str):
            found[name] = spec["class"]
    return found


def step_classes(workflow: Workflow) -> dict[str, frozenset[str]]:
    """Top-level step id -> the classes of the data it handles (computed once per
    workflow object)."""
    cached: dict[str, frozenset[str]] | None = workflow.__dict__.get(_CACHE_ATTR)
    if cached is not None:
        return cached
    inputs = declared_classes(workflow)
    result: dict[str, frozenset[str]] = {}

    def classes_of(step_id: str, visiting: frozenset[str]) -> frozenset[str]:
        known = result.get(step_id)
        if known is not None:
            return known
        step = workflow.steps[step_id]
        found: set[str] = set()
        read_inputs, read_steps = _reads(step)
        found.update(inputs[name] for name in read_inputs if name in inputs)
        for other in read_steps | set(step.after):
            if other in workflow.steps and other not in visiting:
                found |= classes_of(other, visiting | {step_id})
        for sub in _sub_workflows(step):
            found.update(declared_classes(sub).values())
            for inner in step_classes(sub).values():
                found |= inner
        result[step_id] = frozenset(found)
        return result[step_id]

    for step_id in workflow.steps:
        classes_of(step_id, frozenset())
    object.__setattr__(workflow, _CACHE_ATTR, result)
    return result


def classes_for_key(workflow: Workflow, key: str | None) -> frozenset[str]:
    """The classes of the step a step key (``a``, ``m[3]``, ``l#2/x``, ``sub/inner``) is in."""
    if not key:
        return frozenset()
    top = key
    for mark in ("[", "#", "/"):
        top = top.split(mark, 1)[0]
    return step_classes(workflow).get(top, frozenset())


def _reads(step: Step) -> tuple[set[str], set[str]]:
    """The inputs and the step ids that ``step``'s expressions (nested ones included) read."""
    read_inputs: set[str] = set()
    read_steps: set[str] = set(step.refs)
    for template in _templates(step):
        read_inputs |= template.inputs
        read_steps |= template.references
    return read_inputs, read_steps


def _templates(value: Any) -> Iterator[Template]:
    yield from _found(value, Template)


def _sub_workflows(value: Any) -> Iterator[Workflow]:
    for step in _found(value, WorkflowStep):
        yield step.workflow


def _found(value: Any, kind: type[F]) -> Iterator[F]:
    """The ``kind`` objects in a step's fields, not inside a sub-workflow (its own steps
    read its own inputs) nor inside a ``kind`` found."""
    if isinstance(value, kind):
        yield value
    elif isinstance(value, Workflow):
        return
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _found(getattr(value, f.name), kind)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _found(item, kind)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _found(item, kind)
