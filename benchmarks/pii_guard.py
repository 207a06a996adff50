"""What the PII guard adds to a model call, in µs, by kind of input.

The guard wraps a call whose model does nothing (``proceed`` returns at once); the
baseline is the same ``proceed`` called without the guard, in the same process and
sitting. First calls (which import phonenumbers and python-stdnum) are excluded: each
case is warmed first. Numbers for inputs with digits are measured with the matcher's
cache cleared before each call (a fresh number each time) and with it warm (the same
number again).

    python benchmarks/pii_guard.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from podium.adapters import CallContext
from podium.engine import ModelCall
from podium.governance.pii import PiiGuard
from podium.governance.pii._phones import _match
from podium.registry import ModelSpec

SPEC = ModelSpec.model_validate(
    {
        "name": "llm",
        "version": "1.0.0",
        "capabilities": ["text.chat"],
        "runtime": {"kind": "python", "target": "x:y"},
    }
)
DOC = (
    "The quarterly review covers the migration of the billing service, the new retry "
    "policy and the results of the load test. Latency stayed within budget and no "
    "customer-facing incident was recorded during the rollout. "
) * 10
CASES: dict[str, dict[str, Any]] = {
    "short text, no PII": {"text": "Please summarise the ticket about the broken printer."},
    "form of 5 short fields, no PII": {
        "name": "Ana",
        "topic": "billing",
        "priority": "high",
        "lang": "en",
        "text": "Printer on floor three is broken again.",
    },
    "2 KB document, no PII": {"text": DOC},
    "short text, order number (digits, no PII)": {
        "text": "Where is order 100045872? It was due on 2024-03-14."
    },
    "short text, one e-mail address": {"text": "Please write to ana.souza@example.com today."},
    "short text, card + IBAN + phone": {
        "text": "Card 4242 4242 4242 4242, IBAN DE89 3704 0044 0532 0130 00, tel +49 30 1234567."
    },
}


async def proceed(call: ModelCall) -> dict[str, Any]:
    return {"text": "ok"}


async def per_call_us(guard: PiiGuard | None, inputs: dict[str, Any], n: int, cold: bool) -> float:
    call = ModelCall(SPEC, inputs, CallContext("run", "step"), "text.chat")
    started = time.perf_counter()
    for _ in range(n):
        if cold:
            _match.cache_clear()
        if guard is None:
            await proceed(call)
        else:
            await guard(call, proceed)
    return (time.perf_counter() - started) / n * 1e6


async def main() -> None:
    guard = PiiGuard()
    for inputs in CASES.values():  # warm: imports, metadata
        await guard(ModelCall(SPEC, inputs, CallContext("r", "s"), None), proceed)
    base = statistics.median(
        [await per_call_us(None, CASES["short text, no PII"], 20000, False) for _ in range(5)]
    )
    print(f"baseline (proceed alone): {base:.2f} µs per call")
    print("| input | added µs per call (median of 5) | with the number's result cached |")
    print("|---|---:|---:|")
    for name, inputs in CASES.items():
        digits = any(c.isdigit() for c in str(inputs))
        n = 300 if digits else 20000
        cold = statistics.median([await per_call_us(guard, inputs, n, True) for _ in range(5)])
        warm = statistics.median([await per_call_us(guard, inputs, n, False) for _ in range(5)])
        shown = f"{warm - base:.1f}" if digits else "-"
        print(f"| {name} | {cold - base:.1f} | {shown} |")


if __name__ == "__main__":
    asyncio.run(main())
