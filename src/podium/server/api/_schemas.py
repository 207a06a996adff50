"""Response bodies of the API (what ``/openapi.json`` documents)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from podium._types import RunStatus
from podium.engine import RunResult, RunState
from podium.store import RunRecord

RunStatusName = Literal["pending", "running", "waiting", "succeeded", "failed", "cancelled"]
StepStatusName = Literal[
    "pending", "running", "waiting", "succeeded", "failed", "skipped", "cancelled"
]


class RunSummary(BaseModel):
    """A run: who started it, where it is, what it produced and cost."""

    run_id: str
    workflow: str
    status: RunStatusName
    started_at: float | None = Field(default=None, description="seconds since the epoch")
    finished_at: float | None = None
    cost: float = 0.0
    error: str | None = None
    principal: str | None = Field(default=None, description="who started it (key:<id>)")
    tenant: str | None = None
    outputs: dict[str, Any] | None = None
    driver: str | None = Field(default=None, description="the process that continues it")
    queue: str | None = Field(default=None, description="the worker queue it was submitted to")


class StepView(BaseModel):
    """One step key of a run (``a``, ``m[3]``, ``l#2/x``)."""

    step: str
    status: StepStatusName
    model: str | None = None
    attempts: int = 0
    cost: float = 0.0
    cached: bool = False
    duration_ms: float | None = None
    error: str | None = None


class PendingApproval(BaseModel):
    """A step waiting for someone to approve or reject it."""

    run_id: str
    workflow: str
    step: str
    prompt: str | None = None
    approvers: list[str] = Field(default_factory=list)
    requested_at: float | None = None
    timeout_s: float | None = None
    tenant: str | None = None


class RunDetail(RunSummary):
    """A run with its inputs, every step, the lineage of its outputs and what it waits for."""

    inputs: dict[str, Any] = Field(default_factory=dict)
    steps: list[StepView] = Field(default_factory=list)
    lineage: list[dict[str, Any]] = Field(default_factory=list)
    lineage_tree: dict[str, Any] | None = Field(
        default=None,
        description="each output, the steps it came from and the model versions that answered",
    )
    approvals: list[PendingApproval] = Field(default_factory=list)
    anomalies: list[dict[str, Any]] = Field(default_factory=list)
    parent_run_id: str | None = None


class RunPage(BaseModel):
    """Runs newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: list[RunSummary]
    next_cursor: str | None = None


def record_json(record: RunRecord, *, outputs: bool = False) -> dict[str, Any]:
    """A stored run as :class:`RunSummary` data."""
    data: dict[str, Any] = {
        "run_id": record.run_id,
        "workflow": record.workflow,
        "status": record.status,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "cost": record.cost,
        "error": record.error,
        "principal": record.principal,
        "tenant": record.tenant,
    }
    if outputs:
        data["outputs"] = record.outputs
    if record.queue is not None:
        data["queue"] = record.queue
    return data


def result_json(result: RunResult, principal: str | None, tenant: str | None) -> dict[str, Any]:
    """A run's result (as a driver returned it) as :class:`RunSummary` data."""
    data = result.summary_json()
    data.pop("anomalies", None)
    data["principal"] = principal
    data["tenant"] = tenant
    return data


def pending_approvals(record: RunRecord, state: RunState) -> list[dict[str, Any]]:
    """The steps of a run that wait for a decision."""
    found = []
    for key, step in state.steps.items():
        if str(step.status) != "waiting" or step.approval is None:
            continue
        if "decision" in step.approval:
            continue
        found.append(
            {
                "run_id": record.run_id,
                "workflow": record.workflow,
                "step": key,
                "prompt": step.approval.get("prompt"),
                "approvers": list(step.approval.get("approvers") or ()),
                "requested_at": step.approval.get("requested_at"),
                "timeout_s": step.approval.get("timeout_s"),
                "tenant": record.tenant,
            }
        )
    return found


def _tree(result: RunResult, record: RunRecord) -> dict[str, Any] | None:
    from podium.engine import workflow_from_snapshot
    from podium.errors import PodiumError
    from podium.governance._lineage import lineage_tree

    try:
        workflow = workflow_from_snapshot(record.definition) if record.definition else None
    except PodiumError:  # a snapshot this version cannot read: steps without their links
        workflow = None
    return lineage_tree(result, workflow)


def detail_json(record: RunRecord, state: RunState) -> dict[str, Any]:
    """A stored run and its replayed log as :class:`RunDetail` data."""
    result = RunResult(
        record.run_id, record.workflow, RunStatus(record.status), record.outputs, state
    )
    return record_json(record, outputs=True) | {
        "cost": record.cost or state.cost,
        "inputs": record.inputs,
        "steps": result.steps,
        "lineage": result.lineage,
        "lineage_tree": _tree(result, record),
        "approvals": pending_approvals(record, state),
        "anomalies": [a.to_json() for a in state.anomalies],
        "parent_run_id": record.parent_run_id,
    }
