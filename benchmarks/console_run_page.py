"""The console's run page with 1,000 steps, in headless Chromium (Debian's, via Playwright).

1. Render: a finished run of 1,000 steps (25 lanes, 40 deep) opened cold; measured in the
   page from navigation start to the graph drawn, and to every node shown green.
2. Live: a run of 1,000 steps whose model waits 0.5 s, 25 lanes at once, so the run writes
   about 100 events per second for 20 s; the page is open while it runs. For each event,
   the lag from the moment it was written (its ``ts``) to the moment the page applied it.
   The baseline, in the same run: a plain SSE client (httpx, no browser) reading the same
   stream, which shows the part of the lag that is the server's stream (it polls the store
   every 50 ms while events come) rather than the page.

    python benchmarks/console_run_page.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from podium import Orchestrator
from podium.governance import KeyRing
from podium.server import ServerConfig, create_app

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LANES, STEPS = 25, 1000


def workflow(name: str, uses: str, extra: dict[str, Any]) -> dict[str, Any]:
    steps: dict[str, Any] = {}
    for i in range(STEPS):
        source = (
            "${{ inputs.text }}"
            if i < LANES
            else "${{ steps.s" + str(i - LANES) + ".output.text }}"
        )
        steps[f"s{i}"] = {"uses": uses, "with": {"text": source, **extra}}
    return {"name": name, "inputs": {"text": "string"}, "steps": steps}


def serve(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50_ms": round(pick(0.5), 1),
        "p95_ms": round(pick(0.95), 1),
        "max_ms": round(ordered[-1], 1),
        "mean_ms": round(statistics.fmean(ordered), 1),
    }


def sse_lags(url: str, key: str, run_id: str, out: list[float]) -> None:
    """The baseline: read the run's event stream with httpx; lag per event."""
    headers = {"Authorization": f"Bearer {key}"}
    with (
        httpx.Client(timeout=120) as client,
        client.stream("GET", f"{url}/api/v1/runs/{run_id}/events", headers=headers) as stream,
    ):
        for line in stream.iter_lines():
            if line.startswith("data: ") and '"seq"' in line:
                event = json.loads(line[6:])
                out.append(time.time() * 1000 - event["ts"] * 1000)
            if line.startswith("event: end"):
                return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="podium-console-bench-"))
    orch = Orchestrator(home=home, discover=False)

    @orch.model(capabilities=["text.upper"])
    def shout(text: str) -> dict[str, Any]:
        return {"text": text.upper()}

    @orch.model(capabilities=["test.pause"])
    async def pause(text: str, seconds: float = 0.5) -> dict[str, Any]:
        await asyncio.sleep(seconds)
        return {"text": text}

    url, server, thread = serve(create_app(orch, ServerConfig(resume_every_s=0)))
    ring = KeyRing(orch.store)
    operator = ring.create("operator")[1]
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {operator}"}, timeout=300)
    done = api.post(
        "/api/v1/runs?wait=300",
        json={"workflow": workflow("wide", "capability/text.upper", {}), "inputs": {"text": "a"}},
    ).json()
    assert done["status"] == "succeeded", done
    report: dict[str, Any] = {"steps": STEPS}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=url)
        page = context.new_page()
        page.goto("/sign-in")
        page.get_by_label("API key").fill(operator)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{url}/")
        renders = []
        for _ in range(3):
            page.goto(f"/runs/{done['run_id']}")
            page.wait_for_function(
                f"() => document.querySelectorAll('.node.s-succeeded').length === {STEPS}",
                polling="raf",
                timeout=60000,
            )
            renders.append(
                page.evaluate(
                    """() => ({
                    graph: performance.getEntriesByName('podium:graph')[0].startTime,
                    settled: performance.getEntriesByName('podium:settled')[0].startTime,
                    green: performance.now()})"""
                )
            )
        best = min(renders, key=lambda r: r["settled"])
        report["render"] = {
            "graph_drawn_ms": round(best["graph"], 1),
            "every_state_shown_ms": round(best["settled"], 1),
            "seen_green_by_test_ms": round(best["green"], 1),
            "tries_ms": [round(r["settled"], 1) for r in renders],
        }

        live = workflow("live", "capability/test.pause", {"seconds": 0.5})
        started = api.post("/api/v1/runs", json={"workflow": live, "inputs": {"text": "a"}}).json()
        run_id = started["run_id"]
        baseline: list[float] = []
        reader = threading.Thread(target=sse_lags, args=(url, operator, run_id, baseline))
        reader.start()
        page.goto(f"/runs/{run_id}")
        page.wait_for_function(
            f"() => document.querySelectorAll('.node.s-succeeded').length === {STEPS}",
            timeout=120000,
        )
        applied = page.evaluate("() => window.podiumRun.applied")
        reader.join(timeout=60)
        events = {e.seq: e.ts for e in orch.store.events(run_id)}
        first, last = min(events.values()), max(events.values())
        lags = [when - events[seq] * 1000 for seq, when in applied if seq in events]
        # events written before the page opened arrive in its first read: leave them out
        opened = min(when for _, when in applied)
        live_lags = [
            when - events[seq] * 1000
            for seq, when in applied
            if seq in events and events[seq] * 1000 >= opened
        ]
        report["live"] = {
            "events": len(events),
            "seconds": round(last - first, 1),
            "events_per_s": round(len(events) / (last - first), 1),
            "page_lag": quantiles(live_lags or lags),
            "sse_client_lag": quantiles(baseline) if baseline else None,
        }
        browser.close()
    server.should_exit = True
    thread.join(timeout=10)
    orch.close()
    if options.json:
        print(json.dumps(report, indent=2))
        return
    r, lv = report["render"], report["live"]
    print(
        f"render {STEPS} steps: graph drawn {r['graph_drawn_ms']} ms, every node in its "
        f"final state {r['every_state_shown_ms']} ms after navigation (tries {r['tries_ms']}; "
        f"seen by the test's polling at {r['seen_green_by_test_ms']} ms)"
    )
    print(
        f"live: {lv['events']} events in {lv['seconds']} s ({lv['events_per_s']}/s); "
        f"page lag {lv['page_lag']}; plain SSE client {lv['sse_client_lag']}"
    )


if __name__ == "__main__":
    main()
