"""Layer 4: the workflow IR, its YAML loader and validator, and the durable scheduler."""

from podium.engine._calls import Interceptor, ModelCall, Proceed
from podium.engine._control import cancel_run, decide_approval, repair_run
from podium.engine._expr import Expression, Template, compile_template, parse_expression
from podium.engine._ir import (
    Approval,
    ApprovalStep,
    CallStep,
    EnsembleStep,
    LoopStep,
    MapStep,
    RetryPolicy,
    Step,
    Workflow,
    WorkflowStep,
)
from podium.engine._loader import load_workflow, workflow_from_mapping, workflow_from_snapshot
from podium.engine._result import RunResult
from podium.engine._runner import Runner
from podium.engine._state import RunState
from podium.engine._validate import check_models

__all__ = [
    "Approval",
    "ApprovalStep",
    "CallStep",
    "EnsembleStep",
    "Expression",
    "Interceptor",
    "LoopStep",
    "MapStep",
    "ModelCall",
    "Proceed",
    "RetryPolicy",
    "RunResult",
    "RunState",
    "Runner",
    "Step",
    "Template",
    "Workflow",
    "WorkflowStep",
    "cancel_run",
    "check_models",
    "compile_template",
    "decide_approval",
    "load_workflow",
    "parse_expression",
    "repair_run",
    "workflow_from_mapping",
    "workflow_from_snapshot",
]
