"""What the API's routes share: problem documentation, request documents (YAML or JSON),
cursors, how long to wait, and the API's own state on the application."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Request
from pydantic import BaseModel, ConfigDict

from podium._yaml import line_of, load_yaml_text
from podium.errors import UserError
from podium.server._problems import PROBLEM_JSON, Problem
from podium.server._state import server_state

#: Where a request's document comes from, in errors (``from_error`` does not show it).
SOURCE = "<request>"
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
#: The longest a request may wait for a run (``wait=true``, ``Prefer: wait=N``).
MAX_WAIT_S = 300.0
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*([0-9]+(?:\.[0-9]+)?)", re.IGNORECASE)


class Strict(BaseModel):
    """A request body: unknown fields are refused, naming the field."""

    model_config = ConfigDict(extra="forbid")


class ProblemDetail(BaseModel):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    field: str | None = None
    line: int | None = None


_PROBLEM_SCHEMA = ProblemDetail.model_json_schema()
_WHY = {
    400: "The request is malformed",
    401: "No usable API key (missing, unknown, expired or revoked)",
    403: "The key's role or tenant does not allow this",
    404: "No such object (another tenant's objects look the same)",
    409: "The object's state does not allow this",
    413: "The request body is too large",
    422: "Invalid input; `field` (and `line` for documents) say where",
    429: "Too many requests or runs for this key; see Retry-After",
    500: "The server could not complete the request",
    503: "The server is stopping; retry on another one",
}


def problems(
    *codes: int, also: dict[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses``: ``also``, and these error codes (with those every route can
    answer), each a problem+json document."""
    found: dict[int | str, dict[str, Any]] = dict(also or {})
    for code in sorted({*codes, 401, 403, 422, 429, 500}):
        content = {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}}
        found[code] = {"description": _WHY[code], "content": content}
    return found


def document_body(description: str) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads a YAML or JSON document itself."""
    schema = {"type": "object", "additionalProperties": True}
    content = {"application/json": {"schema": schema}}
    content.update({kind: {"schema": schema} for kind in ("application/yaml",)})
    return {"requestBody": {"required": True, "description": description, "content": content}}


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_document(request: Request, error: type[UserError]) -> tuple[Any, bool]:
    """The request's body as a document: YAML (lines kept for errors) or JSON. Returns the
    document and whether it came as YAML. Malformed text is ``error`` naming the line."""
    raw = await request.body()
    if not raw.strip():
        raise error("the request body is empty; send a YAML or JSON document", field="body")
    limits = server_state(request).orchestrator.settings.limits
    if _media_type(request) in YAML_TYPES:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"not UTF-8 text ({exc.reason})", field="body") from None
        return load_yaml_text(text, SOURCE, error, limits=limits), True
    try:
        return orjson.loads(raw), False
    except orjson.JSONDecodeError as exc:
        raise error(f"malformed JSON: {exc.msg}", line=exc.lineno, field="body") from None


def locate(error: UserError, raw_json: Any, body: bytes) -> UserError:
    """``error`` with the line of its field, found by reading a JSON ``body`` again as
    YAML (done only when there is an error to locate)."""
    if error.line is not None or not error.field or raw_json is None:
        return error
    try:
        located = load_yaml_text(body.decode("utf-8"), SOURCE)
    except (UserError, UnicodeDecodeError):
        return error
    path: list[str | int] = [int(p) if p.isdigit() else p for p in error.field.split(".")]
    line = line_of(located, path)
    return error.located(line=line) if line else error


def wait_for(query: str | None, body: bool, prefer: str | None) -> float | None:
    """How long to wait for a run: ``?wait`` (``true``, or seconds), the body's ``wait``,
    or ``Prefer: wait=N``; ``None``: do not wait."""
    if prefer:
        found = _PREFER_WAIT.search(prefer)
        if found:
            return min(float(found.group(1)), MAX_WAIT_S)
    if query is not None:
        text = query.strip().lower()
        if text in ("", "true", "yes", "1"):
            return MAX_WAIT_S
        if text in ("false", "no", "0"):
            return None
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < 0:
            raise invalid("true, false, or a number of seconds", "wait")
        return min(seconds, MAX_WAIT_S)
    return MAX_WAIT_S if body else None


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, kind="forbidden")


def conflict(detail: str, **extra: Any) -> Problem:
    return Problem(409, "Conflict", detail, kind="conflict", **extra)


def invalid(detail: str, field: str) -> Problem:
    """422 naming ``field``, in the shape the request validation errors have."""
    return Problem(422, "Invalid input", f"{field}: {detail}", kind="invalid-input", field=field)


def plain_json(value: Any) -> Any:
    """``value`` as JSON-ready data (mappings from YAML become plain dicts)."""
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    return value
