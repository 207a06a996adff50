"""Podium: make many specialised AI models work together as one system."""

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

__all__ = [
    "ExecutionError",
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
