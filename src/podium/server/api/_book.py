"""Named workflows, versioned: kept as store documents, loaded once per version.

Each tenant has its own names (a tenant's ``triage`` is not another's); workflows
registered by keys of no tenant are shared, and a tenant's key finds its own first, then
the shared ones. Registering changed content makes a new version (1, 2, ...); registering
the content of the latest version again changes nothing.

Documents: ``api.workflow.latest`` keyed ``<tenant>/<name>`` (the newest version's
number and digest, and what a listing shows), and ``api.workflow`` keyed
``<tenant>/<name>@<version>`` (the document itself). The tenant part is empty for shared
workflows. A version is numbered by reading the latest and writing the next without
yielding to other requests, so one server never gives two documents the same number.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from podium.engine import Workflow
from podium.errors import WorkflowError
from podium.store import Store

LATEST = "api.workflow.latest"
VERSIONS = "api.workflow"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: How long a server trusts its cached "latest version" of a name (another server may
#: register a newer one; a registration here is seen at once).
LATEST_TTL_S = 1.0


def digest_of(document: dict[str, Any]) -> str:
    return hashlib.blake2b(
        orjson.dumps(document, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One registered version of a named workflow."""

    name: str
    tenant: str | None
    version: int
    digest: str
    registered_at: float
    registered_by: str | None
    description: str | None
    inputs: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tenant": self.tenant,
            "version": self.version,
            "digest": self.digest,
            "registered_at": self.registered_at,
            "registered_by": self.registered_by,
            "description": self.description,
            "inputs": self.inputs,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(
            name=str(data["name"]),
            tenant=data.get("tenant"),
            version=int(data["version"]),
            digest=str(data["digest"]),
            registered_at=float(data["registered_at"]),
            registered_by=data.get("registered_by"),
            description=data.get("description"),
            inputs=dict(data.get("inputs") or {}),
        )


def _key(tenant: str | None, name: str) -> str:
    return f"{tenant or ''}/{name}"


class WorkflowBook:
    """Registered workflows of one store, with the loaded form of each version cached."""

    def __init__(self, store: Store, load: Callable[[dict[str, Any]], Workflow]) -> None:
        self.store = store
        self.load = load
        self._latest: dict[str, tuple[Entry | None, float]] = {}
        self._loaded: OrderedDict[tuple[str, int], tuple[Workflow, Entry]] = OrderedDict()
        self._size = 256

    def register(
        self, tenant: str | None, document: dict[str, Any], by: str | None
    ) -> tuple[Entry, bool]:
        """Store ``document`` (validated already) as the next version of its name, unless
        it is the latest version's content. Returns the entry and whether it is new."""
        name = document.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise WorkflowError(
                "a registered workflow needs a name of letters, digits, '.', '_' and '-'",
                field="name",
            )
        digest = digest_of(document)
        key = _key(tenant, name)
        found = self.store.get_document(LATEST, key)
        latest = Entry.from_json(found) if found else None
        if latest is not None and latest.digest == digest:
            self._latest[key] = (latest, time.monotonic() + LATEST_TTL_S)
            return latest, False
        inputs = document.get("inputs")
        entry = Entry(
            name=name,
            tenant=tenant,
            version=(latest.version if latest else 0) + 1,
            digest=digest,
            registered_at=time.time(),
            registered_by=by,
            description=str(document["description"]) if document.get("description") else None,
            inputs=dict(inputs) if isinstance(inputs, dict) else {},
        )
        data = entry.to_json()
        self.store.put_document(VERSIONS, f"{key}@{entry.version}", data | {"document": document})
        self.store.put_document(LATEST, key, data)
        self._latest[key] = (entry, time.monotonic() + LATEST_TTL_S)
        return entry, True

    def latest(self, tenant: str | None, name: str) -> Entry | None:
        """The newest version of ``name`` that ``tenant`` sees: its own, else a shared one."""
        namespaces = (tenant, None) if tenant is not None else (None,)
        for space in namespaces:
            key = _key(space, name)
            cached = self._latest.get(key)
            if cached is not None and cached[1] > time.monotonic():
                entry = cached[0]
            else:
                found = self.store.get_document(LATEST, key)
                entry = Entry.from_json(found) if found else None
                self._latest[key] = (entry, time.monotonic() + LATEST_TTL_S)
            if entry is not None:
                return entry
        return None

    def version(self, tenant: str | None, name: str, version: int) -> tuple[Entry, Any] | None:
        """Version ``version`` of ``name`` as ``tenant`` sees it, with its document."""
        owner = self.latest(tenant, name)
        if owner is None:
            return None
        found = self.store.get_document(VERSIONS, f"{_key(owner.tenant, name)}@{version}")
        return (Entry.from_json(found), found.get("document")) if found else None

    def versions(self, tenant: str | None, name: str) -> list[Entry]:
        """Every version of the ``name`` that ``tenant`` sees, oldest first."""
        latest = self.latest(tenant, name)
        if latest is None:
            return []
        prefix = f"{_key(latest.tenant, name)}@"
        found = [
            Entry.from_json(data)
            for key, data in self.store.documents(VERSIONS).items()
            if key.startswith(prefix)
        ]
        return sorted(found, key=lambda e: e.version)

    def listing(self, tenant: str | None) -> list[Entry]:
        """The latest version of every name ``tenant`` sees (every name: no tenant)."""
        entries = [Entry.from_json(d) for d in self.store.documents(LATEST).values()]
        if tenant is not None:
            own = {e.name for e in entries if e.tenant == tenant}
            entries = [
                e for e in entries if e.tenant == tenant or (e.tenant is None and e.name not in own)
            ]
        return sorted(entries, key=lambda e: (e.name, e.tenant or ""))

    def workflow(
        self, tenant: str | None, name: str, version: int | None = None
    ) -> tuple[Workflow, Entry] | None:
        """The loaded workflow of ``name`` (its latest version, or ``version``)."""
        owner = self.latest(tenant, name)
        if owner is None:
            return None
        cache_key = (_key(owner.tenant, name), owner.version if version is None else version)
        cached = self._loaded.get(cache_key)
        if cached is not None:
            self._loaded.move_to_end(cache_key)
            return cached
        found = self.version(tenant, name, cache_key[1])
        if found is None:
            return None
        entry, document = found
        loaded = (self.load(document), entry)
        self._loaded[cache_key] = loaded
        while len(self._loaded) > self._size:
            self._loaded.popitem(last=False)
        return loaded
