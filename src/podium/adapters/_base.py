"""How a model is called: the adapter contract, shared by every runtime kind."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from podium._types import JSONObject
from podium.registry import ModelSpec


@dataclass(frozen=True, slots=True)
class CallContext:
    """What an adapter may know about the call it serves.

    ``instance`` is the index into the model's instances picked by the router (``None``:
    the adapter chooses). ``idempotency_key`` is stable across retries and resumes of the
    same step, so a model with side effects can recognise a repeat.
    """

    run_id: str | None = None
    step: str | None = None
    attempt: int = 1
    instance: int | None = None
    timeout_s: float | None = None

    @property
    def idempotency_key(self) -> str | None:
        return f"{self.run_id}/{self.step}" if self.run_id and self.step else None


@dataclass
class AdapterEnv:
    """What adapters share: code-registered callables, a thread pool, the home folder."""

    home: Path
    implementations: Callable[[ModelSpec], Callable[..., Any] | None]
    threads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(
            max_workers=32, thread_name_prefix="podium-model"
        )
    )
    _http_client: Any = None

    def http_client(self) -> Any:
        """One shared ``httpx.AsyncClient`` so connections are reused across calls."""
        if self._http_client is None:
            import httpx

            self._http_client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                timeout=httpx.Timeout(30.0),
            )
        return self._http_client

    async def close_http(self) -> None:
        """Close the HTTP client (it belongs to one event loop; a new one is made on demand)."""
        if self._http_client is not None:
            await self._http_client.aclose()
            self._http_client = None

    async def aclose(self) -> None:
        await self.close_http()
        self.threads.shutdown(wait=False, cancel_futures=True)


class Adapter(Protocol):
    """Calls one model version. Inputs and outputs are JSON objects, validated by the caller."""

    spec: ModelSpec

    async def call(self, inputs: JSONObject, ctx: CallContext) -> JSONObject: ...

    async def aclose(self) -> None: ...


AdapterFactory = Callable[[ModelSpec, AdapterEnv], Adapter]


def pick_instance(spec: ModelSpec, ctx: CallContext, counter: list[int]) -> int:
    """The router's instance if it chose one, else the next in round-robin order."""
    count = len(spec.instance_list())
    if ctx.instance is not None:
        return ctx.instance % count
    counter[0] = (counter[0] + 1) % count
    return counter[0]
