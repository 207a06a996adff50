"""Bounds on what a user can ask of Podium, so no input can hang it or exhaust its memory.

Every bound has a safe default and can be raised (or lowered) per process with an
environment variable ``PODIUM_LIMIT_<NAME>`` (for example ``PODIUM_LIMIT_MAP_ITEMS=500000``)
or per :class:`~podium.Orchestrator` with ``limits=Limits(...)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from podium.errors import UserError

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds checked when a file is read, a workflow is validated or a run proceeds.

    ``file_bytes``: a workflow or manifest file. ``yaml_nodes``: values in one YAML document
    once its aliases are expanded (a "billion laughs" file is refused, not expanded).
    ``yaml_depth``: nesting of one YAML document. ``workflow_steps``: steps one workflow
    declares, nested ones included. ``loop_iterations``: a loop's ``max_iterations``.
    ``retry_attempts``: a step's ``retry.attempts``.
    ``map_items``: items one ``map`` step fans out over. ``run_steps``: step executions one
    run may record (map items and loop iterations each count). ``input_bytes``: a run's
    inputs as JSON. ``output_bytes``: one step's output as JSON.
    """

    file_bytes: int = 4 * MiB
    yaml_nodes: int = 1_000_000
    yaml_depth: int = 64  # keep well under Python's recursion limit (about 300 is safe)
    workflow_steps: int = 10_000
    loop_iterations: int = 10_000
    retry_attempts: int = 100
    map_items: int = 100_000
    run_steps: int = 1_000_000
    input_bytes: int = 16 * MiB
    output_bytes: int = 16 * MiB

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """Defaults overridden by ``PODIUM_LIMIT_<NAME>`` variables; a bad value is a
        :class:`~podium.errors.UserError` naming the variable."""
        source = os.environ if env is None else env
        changes: dict[str, int] = {}
        for f in fields(cls):
            variable = f"PODIUM_LIMIT_{f.name.upper()}"
            raw = source.get(variable)
            if raw is None or raw == "":
                continue
            try:
                value = int(raw.replace("_", ""))
            except ValueError:
                value = 0
            if value < 1:
                raise UserError(f"must be a whole number, at least 1 (got {raw!r})", field=variable)
            changes[f.name] = value
        return replace(cls(), **changes) if changes else cls()

    @staticmethod
    def variable(name: str) -> str:
        """The environment variable that sets limit ``name``."""
        return f"PODIUM_LIMIT_{name.upper()}"

    def exceeded(self, name: str, value: int, what: str) -> str:
        """The message for ``what`` (``value``) going over limit ``name``."""
        limit = getattr(self, name)
        return f"{what} ({value:,}) exceeds the limit of {limit:,} (set {self.variable(name)})"


DEFAULT_LIMITS = Limits()
