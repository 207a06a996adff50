"""Helpers of the gateway tests: manifests of models served by a test upstream, and the
official ``openai`` clients pointed at the Podium server."""

from __future__ import annotations

from typing import Any

import openai
from gateway_upstream import TestUpstream
from server_support import Served


def manifest(
    name: str,
    upstream: TestUpstream | str | list[TestUpstream | str],
    *,
    capability: str = "text.chat",
    mode: str = "chat",
    cost: float = 0.001,
    latency_ms: float = 100.0,
    quality: float = 0.8,
    tenants: list[str] | None = None,
    upstream_model: str | None = None,
) -> dict[str, Any]:
    """An ``openai``-kind model served by ``upstream`` (several: one instance each)."""

    def base(where: TestUpstream | str) -> str:
        return where.base_url if isinstance(where, TestUpstream) else where

    runtime: dict[str, Any] = {"kind": "openai", "model": upstream_model or f"up-{name}"}
    data: dict[str, Any] = {
        "name": name,
        "version": "1.0.0",
        "description": f"{mode} model {name} behind a test upstream",
        "capabilities": [capability],
        "input": {"messages": "array"} if mode == "chat" else {"text": "string"},
        "output": {"text": "string"} if mode == "chat" else {"embedding": "array"},
        "runtime": runtime | {"mode": mode},
        "cost": {"per_call": cost},
        "latency_ms": latency_ms,
        "quality": {capability: quality},
    }
    if isinstance(upstream, list):
        data["instances"] = [{"base_url": base(u)} for u in upstream]
    else:
        runtime["base_url"] = base(upstream)
        data["runtime"] = runtime | {"mode": mode}
    if tenants is not None:
        data["tenants"] = tenants
    return data


def client(served: Served, who: str | None = "operator", **options: Any) -> openai.OpenAI:
    """The official synchronous client, with the key named ``who``, no retries."""
    key = served.keys[who] if who else "none"
    return openai.OpenAI(
        base_url=f"{served.url}/v1", api_key=key, max_retries=0, timeout=30, **options
    )


def async_client(served: Served, who: str = "operator") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{served.url}/v1", api_key=served.keys[who], max_retries=0, timeout=30
    )


def ask(text: str = "hello there") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]
