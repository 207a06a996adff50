"""Who a run is for: set when it starts, the same in every model call it makes."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked for a run, as the server or the CLI knows it.

    ``principal`` names the caller (``key:3f9a...`` for an API key, ``cli`` for the
    command line); ``tenant`` the tenant whose objects the run may touch (``None``: no
    tenant); ``headers`` the request headers worth passing on (lower-case names, no
    secrets); ``trace_id``/``span_id`` the W3C trace the run belongs to.
    """

    principal: str | None = None
    tenant: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    trace_id: str | None = None
    span_id: str | None = None

    @classmethod
    def of(
        cls,
        principal: str | None = None,
        tenant: str | None = None,
        headers: Mapping[str, str] | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
    ) -> Caller:
        pairs = tuple(sorted((k.lower(), str(v)) for k, v in (headers or {}).items()))
        return cls(principal, tenant, pairs, trace_id, span_id)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.headers:
            data["headers"] = dict(self.headers)
        if self.trace_id:
            data["trace_id"] = self.trace_id
        if self.span_id:
            data["span_id"] = self.span_id
        return data

    @classmethod
    def from_record(
        cls, principal: str | None, tenant: str | None, data: Mapping[str, Any] | None
    ) -> Caller:
        extra = dict(data or {})
        return cls.of(
            principal, tenant, extra.get("headers"), extra.get("trace_id"), extra.get("span_id")
        )


NOBODY = Caller()


@dataclass(frozen=True, slots=True)
class RunContext:
    """The run a model call serves: its id, workflow and caller (frozen).

    ``definition`` is the workflow being run (the engine's ``Workflow``), for rules that
    read what it declares (the data class of each input); ``None`` outside a workflow.
    """

    run_id: str
    workflow: str
    caller: Caller = NOBODY
    definition: Any = None

    @property
    def principal(self) -> str | None:
        return self.caller.principal

    @property
    def tenant(self) -> str | None:
        return self.caller.tenant


#: The run the current task is driving (``None`` outside a run). The engine sets it for the
#: whole of a run's drive, so what runs inside it (observers, interceptors, logging) can
#: tell which run it serves without being handed it.
CURRENT_RUN: ContextVar[RunContext | None] = ContextVar("podium_current_run", default=None)


def current_run() -> RunContext | None:
    """The run the current task is driving, if any (see :data:`CURRENT_RUN`)."""
    return CURRENT_RUN.get()


#: Who acts outside a run (registering a model, creating a key, activating a policy): the
#: server sets it per request to the key's principal; elsewhere it is this process's user.
ACTOR: ContextVar[Caller | None] = ContextVar("podium_actor", default=None)
_LOCAL: list[Caller] = []


def local_caller() -> Caller:
    """This process acting for the user running it: principal ``local:<user>``."""
    if not _LOCAL:
        import getpass

        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no user name in the environment or passwd
            user = "unknown"
        _LOCAL.append(Caller(principal=f"local:{user}"))
    return _LOCAL[0]


def current_actor() -> Caller:
    """Who the current action is for: :data:`ACTOR` if set, else :func:`local_caller`."""
    return ACTOR.get() or local_caller()
