"""Where model calls run: in this process, or on a Ray cluster (as actors or tasks)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Literal

from podium.errors import UserError

KINDS: tuple[Literal["local", "ray"], ...] = ("local", "ray")
MODES: tuple[Literal["actors", "tasks"], ...] = ("actors", "tasks")
RAY_MISSING = "executor 'ray' needs the ray package: pip install 'podium[ray]'"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a step's model calls run: ``local`` (in this process) or ``ray`` (on a Ray
    cluster), there as ``actors`` that keep the model loaded (one pool per model version)
    or as one Ray ``tasks`` per call."""

    kind: Literal["local", "ray"] = "local"
    mode: Literal["actors", "tasks"] = "actors"

    @property
    def remote(self) -> bool:
        return self.kind != "local"

    def describe(self) -> str:
        """``local``, ``ray`` (actors) or ``ray/tasks``."""
        return self.kind if not self.remote or self.mode == "actors" else f"{self.kind}/{self.mode}"


#: Calls run in this process (the default).
LOCAL = Placement()


def ray_installed() -> bool:
    """Whether ``import ray`` would find the package (without importing it)."""
    return importlib.util.find_spec("ray") is not None


def placement_from_env() -> Placement:
    """``PODIUM_EXECUTOR`` (``local`` or ``ray``) and ``PODIUM_RAY_MODE`` (``actors`` or
    ``tasks``) as a :class:`Placement`; a bad value is a :class:`UserError` naming it."""
    raw_kind = os.environ.get("PODIUM_EXECUTOR") or "local"
    raw_mode = os.environ.get("PODIUM_RAY_MODE") or "actors"
    kind = next((k for k in KINDS if k == raw_kind.strip().lower()), None)
    if kind is None:
        raise UserError(
            f"unknown executor '{raw_kind}'; expected local or ray", field="PODIUM_EXECUTOR"
        )
    mode = next((m for m in MODES if m == raw_mode.strip().lower()), None)
    if mode is None:
        raise UserError(
            f"unknown mode '{raw_mode}'; expected actors or tasks", field="PODIUM_RAY_MODE"
        )
    if kind == "ray" and not ray_installed():
        raise UserError(RAY_MISSING, field="PODIUM_EXECUTOR")
    return Placement(kind, mode)
