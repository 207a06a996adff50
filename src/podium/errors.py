"""Podium's one error tree.

::

    PodiumError
     +-- UserError                 bad input: the CLI prints one line and exits with 2
     |    +-- ManifestError        a model manifest is malformed or breaks a contract
     |    +-- WorkflowError        a workflow file is malformed or fails validation
     |    +-- ExpressionError      a ``${{ }}`` expression does not parse or names nothing
     |    +-- ModelNotFoundError   a model or capability reference resolves to nothing
     |    +-- SchemaError          a value does not match a model's input schema
     |    +-- RunNotFoundError     no run has that id
     |    +-- InvalidStateError    the run or step is not in a state that allows the action
     |    +-- DatabaseFileError    the database file or setting cannot be used (empty, not SQLite)
     |    +-- PolicyError          a policy file is malformed
     +-- ExecutionError            a run failed (the CLI exits with 1)
     |    +-- ModelCallError       a model raised, returned bad output or could not be reached
     |    |    +-- WorkerLostError  the process running the call died (a Ray actor or worker)
     |    +-- StepTimeoutError     a step took longer than its ``timeout_s``
     |    +-- NoCandidateError     no registered model satisfies a step's route constraints
     |    +-- RefusedError         a rule (policy, budget, guard) refused a model call
     |         +-- ApprovalRequired  a rule lets the call go only once someone approves it
     +-- StoreError                the database could not be read or written
          +-- LeaseLostError       another process claimed the run this one was driving
"""

from __future__ import annotations

__all__ = [
    "ApprovalRequired",
    "DatabaseFileError",
    "ExecutionError",
    "ExpressionError",
    "InvalidStateError",
    "LeaseLostError",
    "ManifestError",
    "ModelCallError",
    "ModelNotFoundError",
    "NoCandidateError",
    "PodiumError",
    "PolicyError",
    "RefusedError",
    "RunNotFoundError",
    "SchemaError",
    "StepTimeoutError",
    "StoreError",
    "UserError",
    "WorkerLostError",
    "WorkflowError",
]


class PodiumError(Exception):
    """Root of every error Podium raises on purpose."""


class UserError(PodiumError):
    """A mistake in what the user gave us; reported as one line naming where it is.

    ``file``, ``line`` and ``field`` locate the fault when they are known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """``file:line: field: message`` with the parts that are known."""
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        parts = [p for p in (where, self.field) if p]
        text = " ".join(self.message.split())
        return ": ".join([*parts, text]) if parts else text

    def located(
        self, *, file: str | None = None, line: int | None = None, field: str | None = None
    ) -> UserError:
        """A copy of this error with missing location parts filled in."""
        return type(self)(
            self.message,
            file=self.file or file,
            line=self.line or line,
            field=self.field or field,
        )


class ManifestError(UserError):
    """A model manifest is malformed, or a new version breaks its capability's contract."""


class WorkflowError(UserError):
    """A workflow file is malformed or fails validation."""


class ExpressionError(UserError):
    """A ``${{ }}`` expression is malformed or cannot be evaluated."""


class ModelNotFoundError(UserError):
    """A ``model/NAME@SPEC`` or ``capability/X`` reference resolves to no registered model."""


class SchemaError(UserError):
    """A value does not match a model's or workflow's declared schema."""


class RunNotFoundError(UserError):
    """No run with the given id exists in the store."""


class InvalidStateError(UserError):
    """The action is not allowed in the run's or step's current state."""


class DatabaseFileError(UserError):
    """The database Podium was pointed at cannot be used: an empty or foreign file, a bad
    setting. Nothing was written to it."""


class PolicyError(UserError):
    """A policy file is malformed: an unknown rule, a bad expression, a missing limit."""


class ExecutionError(PodiumError):
    """A run failed while executing."""


class ModelCallError(ExecutionError):
    """A model call failed: it raised, returned output that breaks its schema, or was unreachable.

    ``retryable`` says whether trying again (or another instance) may help.
    """

    def __init__(self, message: str, *, model: str | None = None, retryable: bool = True) -> None:
        self.model = model
        self.retryable = retryable
        super().__init__(f"{model}: {message}" if model else message)


class WorkerLostError(ModelCallError):
    """The process running the call died mid-call (a Ray actor, worker or node), so the
    call's fate says nothing about the model: it is tried again once even when the step's
    retry policy is spent (a model that kills its process every time still fails)."""


class StepTimeoutError(ExecutionError):
    """A step did not finish within its ``timeout_s``."""


class NoCandidateError(ExecutionError):
    """No model satisfies a step's route constraints (cost, latency, quality, tags)."""


class RefusedError(ExecutionError):
    """A rule refused a model call (a policy, a budget, a data guard).

    Never retried and never counted against the model's health: the step moves to its
    next fallback model, or fails naming ``rule``. Raised by interceptors.
    """

    def __init__(self, rule: str, reason: str) -> None:
        self.rule = rule
        self.reason = reason
        super().__init__(f"refused by rule '{rule}': {reason}")


class ApprovalRequired(RefusedError):
    """A rule lets a model call go on only once someone approves it.

    The step then waits durably like an approval step (``podium approve RUN STEP``); once
    approved, the call is made again and the rule finds the decision. Raised by interceptors.
    """

    def __init__(
        self,
        rule: str,
        reason: str,
        *,
        prompt: str,
        approvers: tuple[str, ...] = (),
        timeout_s: float | None = None,
    ) -> None:
        self.prompt = prompt
        self.approvers = approvers
        self.timeout_s = timeout_s
        super().__init__(rule, reason)


class StoreError(PodiumError):
    """The database could not be read or written."""


class LeaseLostError(StoreError):
    """Another process claimed the run (a forced resume or a cancel): this one must stop."""
