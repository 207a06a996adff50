"""Podium: make many specialised AI models work together as one system.

Names are imported on first use, so ``import podium`` (and the ``podium`` command's
``--help``) costs almost nothing; ``podium.Orchestrator`` loads the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from podium._limits import Limits
    from podium._orchestrator import Orchestrator
    from podium._types import RunStatus, StepStatus
    from podium.engine import RetryPolicy, RunResult, Workflow
    from podium.errors import (
        ExecutionError,
        ModelCallError,
        PodiumError,
        UserError,
        WorkflowError,
    )
    from podium.registry import ModelSpec
    from podium.routing import RoutePolicy

__version__ = "0.1.0"

_WHERE = {
    "ExecutionError": "podium.errors",
    "Limits": "podium._limits",
    "ModelCallError": "podium.errors",
    "ModelSpec": "podium.registry",
    "Orchestrator": "podium._orchestrator",
    "PodiumError": "podium.errors",
    "RetryPolicy": "podium.engine",
    "RoutePolicy": "podium.routing",
    "RunResult": "podium.engine",
    "RunStatus": "podium._types",
    "StepStatus": "podium._types",
    "UserError": "podium.errors",
    "Workflow": "podium.engine",
    "WorkflowError": "podium.errors",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'podium' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "ExecutionError",
    "Limits",
    "ModelCallError",
    "ModelSpec",
    "Orchestrator",
    "PodiumError",
    "RetryPolicy",
    "RoutePolicy",
    "RunResult",
    "RunStatus",
    "StepStatus",
    "UserError",
    "Workflow",
    "WorkflowError",
    "__version__",
]
