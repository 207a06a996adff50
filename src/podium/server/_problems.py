"""Errors as RFC 9457 problem details (``application/problem+json``), naming the field."""

from __future__ import annotations

from typing import Any

from podium.errors import (
    InvalidStateError,
    ModelNotFoundError,
    PodiumError,
    RunNotFoundError,
    UserError,
)

PROBLEM_JSON = "application/problem+json"
TYPES = "https://podium.dev/problems/"


class Problem(Exception):
    """An HTTP error with an RFC 9457 body: ``type``, ``title``, ``status``, ``detail``,
    plus ``field`` (where the fault is: ``steps.a.with.text``) and any extensions."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        kind: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind or title.lower().replace(" ", "-")
        self.field = field
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": TYPES + self.kind,
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            data["detail"] = self.detail
        if instance:
            data["instance"] = instance
        if self.field:
            data["field"] = self.field
        return data | self.extra


def not_found(what: str) -> Problem:
    """404: also what another tenant's object looks like, so ids cannot be probed."""
    return Problem(404, "Not found", what, kind="not-found")


def from_error(exc: PodiumError) -> Problem:
    """The problem a Podium error stands for."""
    if isinstance(exc, RunNotFoundError | ModelNotFoundError):
        return Problem(404, "Not found", _message(exc), kind="not-found")
    if isinstance(exc, InvalidStateError):
        return Problem(409, "Conflict", _message(exc), kind="conflict")
    if isinstance(exc, UserError):
        where = exc.file if exc.file and not exc.file.startswith("<") else None
        extra: dict[str, Any] = {}
        if where:
            extra["file"] = where
        if exc.line:
            extra["line"] = exc.line
        return Problem(
            422, "Invalid input", exc.message, kind="invalid-input", field=exc.field, **extra
        )
    return Problem(500, "Internal error", "the server could not complete the request")


def _message(exc: PodiumError) -> str:
    return exc.message if isinstance(exc, UserError) else str(exc)
