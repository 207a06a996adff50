"""How a model is called: the adapter contract, shared by every runtime kind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from podium._context import RunContext
from podium._placement import Placement
from podium._types import JSONObject
from podium.registry import ModelSpec

if TYPE_CHECKING:
    from podium.adapters._http import HttpSession


@dataclass(slots=True)
class CallContext:
    """What an adapter may know about the call it serves.

    ``instance`` is the index into the model's instances picked by the router (``None``:
    the adapter chooses). ``idempotency_key`` is stable across retries and resumes of the
    same step, so a model with side effects can recognise a repeat. ``run`` is the run the
    call serves (its caller: principal, tenant, headers, trace ids). ``placement`` says
    where the call runs (``None``: in this process). Read-only by convention (not frozen:
    one is made per call, and frozen ones cost more to make).
    """

    run_id: str | None = None
    step: str | None = None
    attempt: int = 1
    instance: int | None = None
    timeout_s: float | None = None
    run: RunContext | None = None
    placement: Placement | None = None

    @property
    def idempotency_key(self) -> str | None:
        return f"{self.run_id}/{self.step}" if self.run_id and self.step else None


@dataclass
class AdapterEnv:
    """What adapters share: code-registered callables, a thread pool, the home folder and
    one HTTP client per event loop."""

    home: Path
    implementations: Callable[[ModelSpec], Callable[..., Any] | None]
    #: The Ray cluster to join (``ray.init(address=...)``); ``None``: a local Ray instance.
    ray_address: str | None = None
    threads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(
            max_workers=32, thread_name_prefix="podium-model"
        )
    )
    _http: dict[asyncio.AbstractEventLoop, HttpSession] = field(
        default_factory=dict, init=False, repr=False
    )

    def http_client(self) -> HttpSession:
        """The running loop's HTTP session, so connections are reused across calls.

        A session belongs to the loop it was made on: a call on another loop gets a session
        of its own (and sessions of loops that have closed are forgotten), so nothing relies
        on :meth:`close_http` having been called between loops.
        """
        loop = asyncio.get_running_loop()
        held = self._http.get(loop)
        if held is None or held.closed:
            for other in list(self._http):  # list(): other threads may add their loop's
                if other.is_closed():
                    self._http.pop(other, None)
            from podium.adapters._http import HttpSession

            held = self._http[loop] = HttpSession()
        return held

    async def close_http(self) -> None:
        """Close the running loop's HTTP session (a new one is made on demand)."""
        held = self._http.pop(asyncio.get_running_loop(), None)
        if held is not None:
            await held.close()

    async def aclose(self) -> None:
        await self.close_http()
        self.threads.shutdown(wait=False, cancel_futures=True)


class Adapter(Protocol):
    """Calls one model version. Inputs and outputs are JSON objects, validated by the caller."""

    spec: ModelSpec

    async def call(self, inputs: JSONObject, ctx: CallContext) -> JSONObject: ...

    async def aclose(self) -> None: ...


AdapterFactory = Callable[[ModelSpec, AdapterEnv], Adapter]


def pick_instance(count: int, ctx: CallContext, counter: list[int]) -> int:
    """The router's instance (of ``count``) if it chose one, else the next in round-robin
    order."""
    if ctx.instance is not None:
        return ctx.instance % count
    counter[0] = (counter[0] + 1) % count
    return counter[0]
