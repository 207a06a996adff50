"""Server-sent events passed through as bytes: cut at event boundaries, the usage found.

The gateway always asks an upstream for usage (``stream_options.include_usage``), so
every call's tokens and cost are known. When the client did not ask for it, the event that
only carries usage (``choices: []``) is left out of what it receives. Everything else is
forwarded as the upstream sent it; only events naming a non-null ``usage`` are parsed.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"
_USAGE = re.compile(rb'"usage"\s*:\s*\{')
_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class EventFilter:
    """Feed it the upstream's chunks; it returns what to send on, whole events only."""

    __slots__ = ("done", "keep_usage", "pending", "usage")

    def __init__(self, keep_usage: bool) -> None:
        self.keep_usage = keep_usage
        self.pending = b""
        self.usage: dict[str, Any] | None = None
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """The complete events in ``data`` (with what was pending before it)."""
        if self.pending:
            data = self.pending + data
        end = _last_boundary(data)
        if end < 0:
            self.pending = data
            return b""
        ready, self.pending = data[:end], data[end:]
        if not self.done and b"[DONE]" in ready:
            self.done = True
        if _USAGE.search(ready) is None:
            return ready
        return self._with_usage(ready)

    def end(self) -> bytes:
        """What is left when the upstream closes, ending with ``[DONE]``."""
        tail = self.feed(self.pending + b"\n\n") if self.pending.strip() else b""
        self.pending = b""
        if self.done:
            return tail
        self.done = True
        return tail + DONE

    def _with_usage(self, block: bytes) -> bytes:
        kept: list[bytes] = []
        for event in _events(block):
            if _USAGE.search(event) is None:
                kept.append(event)
                continue
            data = _data(event)
            if not isinstance(data, dict):
                kept.append(event)
                continue
            usage = data.get("usage")
            if isinstance(usage, dict):
                self.usage = usage
            if self.keep_usage:
                kept.append(event)
            elif data.get("choices"):
                data["usage"] = None
                kept.append(b"data: " + orjson.dumps(data) + b"\n\n")
            # else: a usage-only event the client did not ask for
        return b"".join(kept)


def _last_boundary(data: bytes) -> int:
    """Where the last complete event of ``data`` ends (-1: none is complete)."""
    end = data.rfind(b"\n\n")
    end = end + 2 if end >= 0 else -1
    crlf = data.rfind(b"\r\n\r\n")
    if crlf >= 0:
        end = max(end, crlf + 4)
    cr = data.rfind(b"\r\r")
    if cr >= 0:
        end = max(end, cr + 2)
    return end


def _events(block: bytes) -> list[bytes]:
    """``block`` cut into events, each with its blank line."""
    found: list[bytes] = []
    start = 0
    for match in _BOUNDARY.finditer(block):
        found.append(block[start : match.end()])
        start = match.end()
    if start < len(block):
        found.append(block[start:])
    return found


def _data(event: bytes) -> Any:
    """The JSON of an event's ``data:`` lines, or ``None``."""
    lines = [line[5:].lstrip() for line in event.splitlines() if line.startswith(b"data:")]
    if not lines:
        return None
    try:
        return orjson.loads(b"\n".join(lines))
    except orjson.JSONDecodeError:
        return None
