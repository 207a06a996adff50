"""JSON log lines with the run, step and trace they belong to, and never a secret: in the
process, on a real server, and from ``podium serve`` as a real process."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_support import Served

from podium._context import Caller
from podium.errors import UserError
from podium.server.observability import configure_logging, redact

KEY = "pdm_0123456789ab_" + "S3cretS3cretS3cretS3cret"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines into a buffer; the previous set-up restored."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_every_record_is_one_json_object_with_the_fixed_fields(captured: io.StringIO) -> None:
    log = logging.getLogger("podium.test")
    log.info("hello %s", "world", extra={"count": 3})
    try:
        raise ValueError("bad value")
    except ValueError:
        log.exception("it failed")
    first, second = lines(captured)
    assert set(first) == {"ts", "level", "logger", "message", "count"}
    assert first["message"] == "hello world" and first["level"] == "info"
    assert first["logger"] == "podium.test" and first["count"] == 3
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert second["level"] == "error" and "ValueError: bad value" in second["exc"]
    assert "run_id" not in first  # not inside a run


def test_secrets_never_reach_the_log(captured: io.StringIO) -> None:
    log = logging.getLogger("podium.test")
    log.warning("request headers %s", {"Authorization": f"Bearer {KEY}", "accept": "*/*"})
    log.warning("Authorization: Bearer abc.def-ghi_jkl")
    log.warning("the key %s was refused", KEY)
    log.warning("upstream key sk-abcdefghijklmnopqrstuvwx and api_key=hunter22")
    log.info("a call", extra={"authorization": f"Bearer {KEY}", "api_key": "x", "note": KEY})
    try:
        raise RuntimeError(f"could not use {KEY}")
    except RuntimeError:
        log.exception("failed with password=swordfish")
    text = captured.getvalue()
    for secret in (KEY, "S3cret", "abc.def-ghi_jkl", "sk-abcdef", "hunter22", "swordfish"):
        assert secret not in text
    found = lines(captured)
    assert len(found) == 6
    assert "accept" in found[0]["message"] and "[redacted]" in found[0]["message"]
    assert found[4]["authorization"] == "[redacted]" and found[4]["api_key"] == "[redacted]"


def test_redact_keeps_ordinary_text() -> None:
    text = "run 18f-abc finished: 3 steps, label=billing, the token budget is fine"
    assert redact(text) == text


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(UserError, match="log level"):
        configure_logging("loud")


def test_lines_inside_a_run_name_the_run_step_and_trace(
    served: Served, captured: io.StringIO
) -> None:
    orch = served.orchestrator
    model_log = logging.getLogger("podium.test.model")

    @orch.model(capabilities=["text.logged"])
    async def logged(text: str) -> dict[str, Any]:
        model_log.info("inside the model with %s", f"Bearer {KEY}")
        return {"text": text}

    def noisy(run_id: str, event: Any) -> None:
        if event.type == "run_succeeded":
            raise RuntimeError("observer bug")

    orch.add_observer(noisy)
    flow = {
        "name": "obs-logs",
        "inputs": {"text": "string"},
        "steps": {"talk": {"uses": "model/logged", "with": {"text": "${{ inputs.text }}"}}},
    }
    caller = Caller.of("tester", None, None, TRACE_ID, "00f067aa0ba902b7")
    result = orch.run(flow, {"text": "hi"}, caller=caller)
    assert result.ok
    found = lines(captured)
    inside = next(e for e in found if e["message"].startswith("inside the model"))
    assert inside["run_id"] == result.run_id
    assert inside["step"] == "talk"
    assert inside["trace_id"] == TRACE_ID
    assert KEY not in json.dumps(found)
    engine = next(e for e in found if "observer" in e["message"] and "failed" in e["message"])
    assert engine["logger"] == "podium.engine"
    assert engine["run_id"] == result.run_id and "step" not in engine
    assert "RuntimeError: observer bug" in engine["exc"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_podium_serve_logs_json_lines_on_stderr(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PODIUM_HOME": str(tmp_path / "home")}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    command = [sys.executable, "-c", "from podium.cli import main; main()"]
    proc = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--log-level", "info"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "podium serve did not become ready"
            time.sleep(0.05)
        refused = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {KEY}"})
        assert refused.status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert records, "the server logged nothing"
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"].startswith("uvicorn") for r in records)
    assert KEY not in err and "S3cret" not in err
