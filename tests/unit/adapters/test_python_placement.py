"""Sync Python models run on the event loop only while they are fast."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from podium import Orchestrator
from podium.adapters._python import FAST_S, PROBE_CALLS, SLOW_S, InlinePolicy


def test_fast_probes_move_a_model_onto_the_loop() -> None:
    policy = InlinePolicy(None)
    for _ in range(PROBE_CALLS - 1):
        policy.timed_in_pool(FAST_S / 2)
        assert not policy.inline
    policy.timed_in_pool(FAST_S / 2)
    assert policy.inline
    policy.timed_inline(SLOW_S / 2)
    assert policy.inline
    policy.timed_inline(SLOW_S * 2)  # one slow call: back to the pool for good
    assert not policy.inline
    for _ in range(PROBE_CALLS * 2):
        policy.timed_in_pool(0.0)
    assert not policy.inline


def test_a_model_slow_in_most_probes_stays_in_the_pool() -> None:
    policy = InlinePolicy(None)
    for _ in range(PROBE_CALLS // 2 + 1):
        policy.timed_in_pool(FAST_S * 10)
    for _ in range(PROBE_CALLS * 2):
        policy.timed_in_pool(0.0)
    assert not policy.inline


def test_a_stray_slow_probe_does_not_keep_a_fast_model_off_the_loop() -> None:
    policy = InlinePolicy(None)  # a thread waited for the GIL once: not the model's doing
    policy.timed_in_pool(FAST_S * 50)
    for _ in range(PROBE_CALLS - 1):
        policy.timed_in_pool(FAST_S / 2)
    assert policy.inline


def test_a_manifest_can_fix_the_choice() -> None:
    always, never = InlinePolicy(True), InlinePolicy(False)
    always.timed_inline(SLOW_S * 100)
    for _ in range(PROBE_CALLS):
        never.timed_in_pool(0.0)
    assert always.inline and not never.inline


def test_where_calls_run_in_a_real_map(tmp_path: Path) -> None:
    threads: dict[str, set[str]] = {"fast": set(), "slow": set()}
    with Orchestrator(home=tmp_path, durable=False, discover=False) as orch:

        @orch.model(capabilities=["t.fast"])
        def fast(x: int) -> dict[str, Any]:
            threads["fast"].add(threading.current_thread().name)
            return {"x": x}

        @orch.model(capabilities=["t.slow"])
        def slow(x: int) -> dict[str, Any]:
            threads["slow"].add(threading.current_thread().name)
            time.sleep(0.003)
            return {"x": x}

        def flow(model: str) -> dict[str, Any]:
            step = {"uses": f"model/{model}", "with": {"x": "${{ item }}"}}
            return {"steps": {"m": {"map": list(range(40)), "concurrency": 1, "step": step}}}

        assert orch.run(flow("fast")).ok and orch.run(flow("slow")).ok
    main = threading.current_thread().name
    assert main in threads["fast"] and any(t.startswith("podium-model") for t in threads["fast"])
    assert main not in threads["slow"]
