"""Asking an OpenAI-compatible LLM for a plan in the workflow schema (as JSON).

Configured by the environment: ``PODIUM_LLM_BASE_URL`` (e.g. ``http://127.0.0.1:8080/v1``),
``PODIUM_LLM_MODEL`` (default ``default``), ``PODIUM_LLM_API_KEY`` (sent as a bearer
token when set) and ``PODIUM_LLM_TIMEOUT_S`` (default 20). The reply is only a proposal:
:mod:`podium.planner._repair` validates it against the registry and the types.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podium.planner._graph import Operator

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)

SYSTEM = """You plan workflows for Podium, a platform that runs many AI models as one system.
Reply with ONE JSON object and nothing else, in this schema:
{"name": "short-name",
 "inputs": {"INPUT_NAME": "string"},
 "steps": {"STEP_ID": {"uses": "capability/CAPABILITY",
                       "with": {"FIELD": "${{ inputs.INPUT_NAME }}"}}},
 "outputs": {"WANTED_TYPE": "${{ steps.STEP_ID.output.FIELD }}"}}
A "with" value may also read another step: "${{ steps.OTHER_STEP.output.FIELD }}".
Rules: use only the capabilities listed; pass each one the input fields it lists; no step
may read itself; steps that do not read each other run in parallel; output every wanted
type under its own name."""


class LLMError(Exception):
    """The LLM could not be asked, or its answer is not a JSON object."""


@dataclass(frozen=True)
class LLMConfig:
    """Where the LLM is and how to call it."""

    base_url: str
    model: str = "default"
    api_key: str | None = None
    timeout_s: float = 20.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LLMConfig | None:
        """The configuration in ``PODIUM_LLM_*``, or ``None`` when no base URL is set."""
        env = os.environ if env is None else env
        base = env.get("PODIUM_LLM_BASE_URL", "").strip()
        if not base:
            return None
        return cls(
            base_url=base.rstrip("/"),
            model=env.get("PODIUM_LLM_MODEL", "default"),
            api_key=env.get("PODIUM_LLM_API_KEY") or None,
            timeout_s=float(env.get("PODIUM_LLM_TIMEOUT_S", "20")),
        )


def catalog_line(op: Operator) -> str:
    """One operator as the LLM sees it."""
    fields = ", ".join(
        f"{f.name}: {f.type}{'' if f.required else ' (optional)'}" for f in op.inputs.values()
    )
    outs = ", ".join(f"{f.name}: {f.type}" for f in op.outputs.values())
    uses = f'"workflow": "{op.uses}"' if op.kind == "workflow" else f'"uses": "{op.uses}"'
    text = op.description or (op.providers[0].description if op.providers else "")
    return (
        f"- {uses}; consumes types [{', '.join(op.consumes)}] and produces "
        f"[{', '.join(op.produces)}]; input fields {{{fields}}}; output fields {{{outs}}}. "
        f"{text}".strip()
    )


def messages(
    goal: str,
    given: Mapping[str, str],
    wanted: Sequence[str],
    operators: Sequence[Operator],
) -> list[dict[str, str]]:
    """The chat messages that ask for a plan."""
    lines = [f"Goal: {goal}", "", "Inputs available (name: semantic type):"]
    lines += [f"- {name}: {type_}" for name, type_ in given.items()] or ["- (none)"]
    if wanted:
        lines += ["", f"Wanted types: {', '.join(wanted)}"]
    lines += ["", "Capabilities:"] + [catalog_line(op) for op in operators]
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "\n".join(lines)},
    ]


async def ask(config: LLMConfig, chat: Sequence[Mapping[str, str]]) -> str:
    """The assistant's reply text from ``/chat/completions``."""
    import httpx

    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    payload = {"model": config.model, "messages": list(chat), "temperature": 0}
    try:
        async with httpx.AsyncClient(timeout=config.timeout_s) as client:
            response = await client.post(
                config.base_url + "/chat/completions", json=payload, headers=headers
            )
    except httpx.HTTPError as exc:
        raise LLMError(f"cannot reach {config.base_url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise LLMError(f"{config.base_url} answered HTTP {response.status_code}")
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMError("the reply is not an OpenAI chat completion") from None
    if not isinstance(content, str):
        raise LLMError("the reply has no text content")
    return content


def extract_json(text: str) -> Any:
    """The JSON object in an LLM reply (bare, fenced, or the outermost ``{...}``)."""
    candidates = [text.strip(), *(m.strip() for m in _FENCE.findall(text))]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise LLMError("the reply holds no JSON object")
