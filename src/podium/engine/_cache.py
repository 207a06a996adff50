"""Validated workflows, kept so that running the same file again costs no parsing.

A file's entry is keyed by its path and checked on every use against the modification
stamp of each file it was built from (sub-workflows included); a changed stamp with the
same content still hits. A mapping's entry is keyed by its content. Every entry also
remembers the registry revision it was checked against: a newly registered model means the
workflow's model references are checked again (its parse is kept). The cache is bounded:
the least recently used entry goes first.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podium.engine._ir import Workflow

Stamp = tuple[str, int, int]  # path, mtime in ns, size
_CHECKED = "_podium_checked"


@dataclass
class _Entry:
    workflow: Workflow
    stamps: tuple[Stamp, ...]
    digest: str
    revision: int


def _stamp(path: str) -> Stamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (path, info.st_mtime_ns, info.st_size)


def _digest(paths: list[str]) -> str | None:
    hasher = hashlib.blake2b(digest_size=16)
    for path in paths:
        try:
            hasher.update(Path(path).read_bytes())
        except OSError:
            return None
        hasher.update(b"\0")
    return hasher.hexdigest()


class WorkflowCache:
    """At most ``size`` validated workflows, least recently used evicted first."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def file(
        self,
        path: str | Path,
        revision: int,
        load: Callable[[], Workflow],
        check: Callable[[Workflow], None],
    ) -> Workflow:
        """The workflow in ``path``: from the cache if none of its files changed."""
        key = "file:" + os.path.abspath(path)
        entry = self._entries.get(key)
        if entry is not None and self._still_valid(entry):
            return self._hit(key, entry, revision, check)
        self.misses += 1
        workflow = load()
        check(workflow)
        files = [str(Path(workflow.source or path).resolve()), *workflow.documents]
        stamps = tuple(s for s in (_stamp(f) for f in files) if s is not None)
        digest = _digest([s[0] for s in stamps]) or ""
        self._put(key, _Entry(workflow, stamps, digest, revision))
        return workflow

    def mapping(
        self,
        doc: Mapping[str, Any],
        revision: int,
        load: Callable[[], Workflow],
        check: Callable[[Workflow], None],
    ) -> Workflow:
        """The workflow built from ``doc``: from the cache if the same content was seen.

        A mapping that contains itself or nests too deeply cannot be hashed: it is built
        (and refused by the loader's own bounds) every time.
        """
        try:
            text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
        except (TypeError, ValueError, RecursionError):
            workflow = load()
            check(workflow)
            return workflow
        key = "doc:" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        entry = self._entries.get(key)
        if entry is not None:
            return self._hit(key, entry, revision, check)
        self.misses += 1
        workflow = load()
        check(workflow)
        self._put(key, _Entry(workflow, (), "", revision))
        return workflow

    def _still_valid(self, entry: _Entry) -> bool:
        current = tuple(_stamp(s[0]) for s in entry.stamps)
        if current == entry.stamps:
            return True
        if any(s is None for s in current):
            return False
        if _digest([s[0] for s in entry.stamps]) == entry.digest:  # touched, not changed
            entry.stamps = tuple(s for s in current if s is not None)
            return True
        return False

    def _hit(
        self, key: str, entry: _Entry, revision: int, check: Callable[[Workflow], None]
    ) -> Workflow:
        self.hits += 1
        self._entries.move_to_end(key)
        if entry.revision != revision:
            check(entry.workflow)
            entry.revision = revision
        return entry.workflow

    def _put(self, key: str, entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


def mark_checked(workflow: Workflow, token: tuple[int, int]) -> Workflow:
    """Note on ``workflow`` that it was checked against registry state ``token``."""
    object.__setattr__(workflow, _CHECKED, token)
    return workflow


def checked_object(
    workflow: Workflow, token: tuple[int, int], check: Callable[[Workflow], None]
) -> Workflow:
    """Check a workflow object once per registry state ``token``; the mark lives on it."""
    if getattr(workflow, _CHECKED, None) != token:
        check(workflow)
        object.__setattr__(workflow, _CHECKED, token)
    return workflow
