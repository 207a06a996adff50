"""Workflows and helpers the REST API tests share (the models are conftest's)."""

from __future__ import annotations

import time
from typing import Any

import httpx

API = "/api/v1"


def shout_flow(name: str = "shout-flow", steps: int = 1) -> dict[str, Any]:
    """A chain of ``steps`` calls of ``text.upper`` over the input ``text``."""
    chain: dict[str, Any] = {}
    previous = "${{ inputs.text }}"
    for index in range(steps):
        step = f"s{index + 1}"
        chain[step] = {"uses": "capability/text.upper", "with": {"text": previous}}
        previous = "${{ steps." + step + ".output.text }}"
    return {
        "name": name,
        "inputs": {"text": "string"},
        "steps": chain,
        "outputs": {"text": previous},
    }


def slow_flow(name: str = "slow-flow", delay: float = 0.3) -> dict[str, Any]:
    return {
        "name": name,
        "inputs": {"text": "string"},
        "steps": {
            "wait": {
                "uses": "capability/text.slow",
                "with": {"text": "${{ inputs.text }}", "delay": delay},
            }
        },
        "outputs": {"text": "${{ steps.wait.output.text }}"},
    }


def gated_flow(name: str = "gated", approvers: list[str] | None = None) -> dict[str, Any]:
    """An approval, then a call that runs only when approved."""
    approval: dict[str, Any] = {"prompt": "Shout it?"}
    if approvers is not None:
        approval["approvers"] = approvers
    return {
        "name": name,
        "inputs": {"text": "string"},
        "steps": {
            "gate": {"approval": approval},
            "loud": {
                "if": "${{ steps.gate.output.approved }}",
                "uses": "capability/text.upper",
                "with": {"text": "${{ inputs.text }}"},
            },
        },
        "outputs": {"text": "${{ steps.loud.output.text }}"},
    }


def is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem document of ``response``, checked to be one with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def until_status(
    client: httpx.Client, run_id: str, *statuses: str, timeout: float = 10.0
) -> dict[str, Any]:
    """Poll the run until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = client.get(f"{API}/runs/{run_id}").json()
        if found.get("status") in statuses:
            return found
        assert time.monotonic() < deadline, f"run {run_id} stayed {found.get('status')}"
        time.sleep(0.02)


def sse_events(text: str) -> list[dict[str, str]]:
    """The frames of an SSE body (comments and the retry hint left out)."""
    frames = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if "event" in fields or "data" in fields:
            frames.append(fields)
    return frames
