"""``executor:`` in workflow YAML: where a workflow's or a step's model calls run.

``executor: local`` (in the driving process), ``executor: ray`` (on a Ray cluster, as
actors that keep each model loaded), or the long form ``executor: {kind: ray, mode:
actors | tasks}``. Set on a workflow it is the default for its steps; set on a map, loop
or sub-workflow step, for the steps inside it; unset everywhere, ``PODIUM_EXECUTOR``
decides (``local`` when that is unset too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from podium._placement import KINDS, MODES, RAY_MISSING, Placement, ray_installed
from podium.errors import UserError

Fail = Callable[[str, list[str | int]], UserError]


def parse_placement(raw: Any, fail: Fail, path: list[str | int]) -> Placement:
    """An ``executor:`` value as a :class:`Placement`; a bad one fails naming its field."""
    if isinstance(raw, str):
        kind = next((k for k in KINDS if k == raw), None)
        if kind is None:
            raise fail(f"unknown executor '{raw}'; expected local or ray", path)
        placement = Placement(kind)
    elif isinstance(raw, dict):
        for key in raw:
            if key not in ("kind", "mode"):
                raise fail("unknown field; expected kind, mode", [*path, key])
        kind = next((k for k in KINDS if k == raw.get("kind")), None)
        if kind is None:
            raise fail(
                f"unknown executor {raw.get('kind')!r}; expected local or ray", [*path, "kind"]
            )
        mode = next((m for m in MODES if m == raw.get("mode", "actors")), None)
        if mode is None:
            raise fail(
                f"unknown mode {raw.get('mode')!r}; expected actors or tasks", [*path, "mode"]
            )
        if kind == "local" and "mode" in raw:
            raise fail("'mode' only goes with kind: ray", [*path, "mode"])
        placement = Placement(kind, mode)
    else:
        raise fail("must be local, ray, or {kind: ray, mode: actors|tasks}", path)
    if placement.remote and not ray_installed():
        raise fail(RAY_MISSING, path)
    return placement
