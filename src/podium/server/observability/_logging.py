"""Logs as JSON lines on stderr, with the run, step and trace they belong to, and no secrets.

Each record is one JSON object: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
then ``run_id``, ``step`` and ``trace_id`` when known (the run comes from the engine's
:data:`~podium._context.CURRENT_RUN`; the step and trace from :data:`LOG_CONTEXT`, which the
model-call interceptor sets around each call), ``exc`` for an exception, and any ``extra``
fields. Whatever is written is passed through :func:`redact` first: API keys (``pdm_...``,
``sk-...``), ``Authorization`` headers and bearer tokens never reach the log.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any, TextIO

import orjson

from podium._context import current_run
from podium.errors import UserError

#: ``(run_id, step, trace_id)`` of the model call the current task is making, if any.
LOG_CONTEXT: ContextVar[tuple[str | None, str | None, str | None] | None] = ContextVar(
    "podium_log_context", default=None
)

_REDACTED = "[redacted]"
_SECRET_NAMES = re.compile(
    r"(?i)(authorization|api[_-]?key|x-api-key|access[_-]?token|password|passwd|secret)"
    r"""(["']?\s*[:=]\s*["']?)((?:bearer|basic|token)\s+)?([^\s"',;}\]]+)"""
)
_TOKENS = re.compile(
    r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"  # a credential after its scheme
)
_KEYS = re.compile(r"\bpdm_[A-Za-z0-9_-]+|\bsk-[A-Za-z0-9_-]{16,}")
_SECRET_FIELD = re.compile(r"(?i)authorization|api[_-]?key|token|password|passwd|secret")

#: LogRecord attributes that are not ``extra`` fields.
_STANDARD = frozenset(
    set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)))
    | {"message", "asctime", "taskName"}
)
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
LEVELS |= {"error": logging.ERROR, "critical": logging.CRITICAL}


def redact(text: str) -> str:
    """``text`` with API keys, bearer tokens and secret-looking ``name: value`` pairs hidden."""
    if not text:
        return text
    text = _SECRET_NAMES.sub(lambda m: f"{m[1]}{m[2]}{m[3] or ''}{_REDACTED}", text)
    text = _KEYS.sub(_REDACTED, text)
    return _TOKENS.sub(lambda m: f"{m[1]} {_REDACTED}", text)


def _safe(name: str, value: Any) -> Any:
    if _SECRET_FIELD.search(name):
        return _REDACTED
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        found = LOG_CONTEXT.get()
        if found is not None:
            run_id, step, trace_id = found
        else:
            run = current_run()
            run_id = run.run_id if run is not None else None
            trace_id = run.caller.trace_id if run is not None else None
            step = None
        if run_id:
            entry["run_id"] = run_id
        if step:
            entry["step"] = step
        if trace_id:
            entry["trace_id"] = trace_id
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in entry and not name.startswith("_"):
                entry[name] = _safe(name, value)
        return orjson.dumps(entry, default=str).decode()


def _iso(created: float) -> str:
    whole = int(created)
    millis = int((created - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


class _PodiumHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs (found again to be replaced)."""


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Log as JSON lines on stderr (or ``stream``) at ``level`` (``debug``, ``info``,
    ``warning``, ``error``). Calling it again replaces the handler it installed."""
    wanted = LEVELS.get(str(level).lower())
    if wanted is None:
        raise UserError(
            f"unknown log level {level!r}; use one of {', '.join(LEVELS)}", field="--log-level"
        )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _PodiumHandler)]:
        root.removeHandler(old)
    handler = _PodiumHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(wanted)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()  # no second, plain-text copy of the server's own lines
        logger.propagate = True
