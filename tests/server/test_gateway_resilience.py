"""Through the gateway, the router's resilience: fallback to the next model, breakers that
stop calling a failing upstream, hedged requests, 502/503 when nothing answers, and a
client that goes away mid-stream closing the upstream request."""

from __future__ import annotations

import socket
import time

import openai
import orjson
import pytest
from gateway_support import ask, client, manifest
from gateway_upstream import Behaviour, TestUpstream
from server_support import Served


def dead_url() -> str:
    """A base URL where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def wait_for(check: object, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.02)
    return False


def test_a_dead_first_upstream_falls_back_to_the_second(served: Served) -> None:
    with TestUpstream.running(Behaviour(reply="from b")) as second:
        orch = served.orchestrator
        orch.register(manifest("first", dead_url(), quality=0.95))
        orch.register(manifest("second", second, quality=0.6))
        with client(served) as api:
            raw = api.chat.completions.with_raw_response.create(model="podium/best", messages=ask())
            streamed = list(
                api.chat.completions.create(model="podium/best", messages=ask(), stream=True)
            )
        assert raw.headers["x-podium-model"] == "second@1.0.0"
        assert raw.parse().choices[0].message.content == "from b"
        assert "".join(c.choices[0].delta.content or "" for c in streamed) == "from b"
        failed = orch.router.model_stats("first@1.0.0")  # type: ignore[attr-defined]
        assert failed is not None and failed["errors"] >= 2


def test_named_fallbacks_are_tried_after_the_model_asked_for(served: Served) -> None:
    with TestUpstream.running(Behaviour(reply="backup")) as backup:
        orch = served.orchestrator
        orch.register(manifest("main", dead_url(), capability="text.main"))
        orch.register(manifest("backup", backup, capability="text.backup"))
        with client(served) as api:
            raw = api.chat.completions.with_raw_response.create(
                model="main", messages=ask(), extra_body={"podium": {"fallbacks": ["backup"]}}
            )
        assert raw.headers["x-podium-model"] == "backup@1.0.0"


def test_a_failing_upstream_trips_its_breaker_and_is_no_longer_called(served: Served) -> None:
    with (
        TestUpstream.running(Behaviour(status=500)) as failing,
        TestUpstream.running(Behaviour(reply="healthy")) as healthy,
    ):
        orch = served.orchestrator
        orch.register(manifest("flaky", failing, quality=0.95))
        orch.register(manifest("steady", healthy, quality=0.5))
        with client(served) as api:
            answers = [
                api.chat.completions.create(model="podium/best", messages=ask()) for _ in range(10)
            ]
        assert {a.choices[0].message.content for a in answers} == {"healthy"}
        # 6 failures in a row open the circuit (2 tries per request): then it is skipped
        assert failing.hits() == 6
        circuits = orch.router.circuits()  # type: ignore[attr-defined]
        assert circuits["flaky@1.0.0"] == ["open"]


def test_nothing_answering_is_502_then_503_once_the_circuit_is_open(served: Served) -> None:
    with TestUpstream.running(Behaviour(status=503)) as failing:
        served.orchestrator.register(manifest("lonely", failing))
        with client(served) as api:
            statuses = []
            for _ in range(4):
                with pytest.raises(openai.APIStatusError) as failed:
                    api.chat.completions.create(model="lonely", messages=ask())
                statuses.append(failed.value.status_code)
        assert statuses == [502, 502, 502, 503]
        assert failed.value.response.headers["retry-after"] == "1"
        assert failing.hits() == 6


def test_a_slow_instance_is_hedged_by_another(served: Served) -> None:
    with (
        TestUpstream.running(Behaviour(delay_s=3.0, reply="slow")) as slow,
        TestUpstream.running(Behaviour(reply="fast")) as fast,
    ):
        served.orchestrator.register(manifest("pair", [slow, fast]))
        with client(served) as api:
            for _ in range(12):
                started = time.monotonic()
                answer = api.chat.completions.create(
                    model="pair", messages=ask(), extra_body={"podium": {"hedge_after_ms": 50}}
                )
                assert time.monotonic() - started < 2.0  # the slow one takes 3 s
                assert answer.choices[0].message.content == "fast"
        assert slow.hits() >= 1  # the slow one was asked first at least once, and hedged
        stats = served.orchestrator.router.model_stats("pair@1.0.0")  # type: ignore[attr-defined]
        assert stats is not None and stats["errors"] == 0  # a lost hedge is not a failure


def test_a_slow_instance_is_hedged_when_streaming_too(served: Served) -> None:
    with (
        TestUpstream.running(Behaviour(delay_s=3.0, reply="slow stream")) as slow,
        TestUpstream.running(Behaviour(reply="fast stream")) as fast,
    ):
        served.orchestrator.register(manifest("pair", [slow, fast]))
        with client(served) as api:
            for _ in range(12):
                started = time.monotonic()
                stream = api.chat.completions.create(
                    model="pair",
                    messages=ask(),
                    stream=True,
                    extra_body={"podium": {"hedge_after_ms": 50}},
                )
                text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
                assert time.monotonic() - started < 2.0  # the slow one takes 3 s
                assert text == "fast stream"  # one answer only, never two interleaved
        assert slow.hits() >= 1


def test_a_stream_broken_mid_way_ends_with_an_error_event(served: Served) -> None:
    with TestUpstream.running(Behaviour(cut_after=2, reply="a b c d e f g h")) as upstream:
        served.orchestrator.register(manifest("brittle", upstream))
        with client(served) as api:
            stream = api.chat.completions.create(model="brittle", messages=ask(), stream=True)
            received = []
            with pytest.raises(openai.APIError) as broken:
                for chunk in stream:
                    received.append(chunk)
        assert received and received[0].choices[0].delta.role == "assistant"
        assert "stream broke" in broken.value.message
        assert upstream.hits() == 1  # what the client had seen could not be taken back
        stats = served.orchestrator.router.model_stats("brittle@1.0.0")  # type: ignore[attr-defined]
        assert stats is not None and stats["errors"] == 1


def test_a_client_leaving_mid_stream_closes_the_upstream_request(served: Served) -> None:
    with TestUpstream.running(Behaviour(chunks=100, chunk_delay_s=0.05)) as upstream:
        upstream.behaviour.reply = " ".join(f"w{i}" for i in range(100))
        served.orchestrator.register(manifest("long", upstream))
        with client(served) as api:
            stream = api.chat.completions.create(model="long", messages=ask(), stream=True)
            first = next(iter(stream))
            assert first.choices[0].delta.role == "assistant"
            stream.close()
        assert wait_for(lambda: upstream.seen.disconnects == 1)
        assert upstream.seen.finished_streams == 0
        # the cancelled call released its instance and is not counted as a failure
        stats = served.orchestrator.router.model_stats("long@1.0.0")  # type: ignore[attr-defined]
        assert stats is None or stats["errors"] == 0
        # it was made all the same: the audit log says so, and that it was cut short
        store = served.orchestrator.store
        assert wait_for(lambda: [r for r in store.audit_records() if r.workflow == "gateway"])
        (record,) = [r for r in store.audit_records() if r.workflow == "gateway"]
        data = orjson.loads(record.data)
        assert record.subject == "long@1.0.0" and data["cancelled"]
        assert data["output_sha256"] is None


def test_a_client_leaving_at_done_lets_the_call_finish(served: Served) -> None:
    """The openai client closes a stream as soon as it reads ``[DONE]``; an upstream that
    ends its body a moment later still has its call finished: learned and audited."""
    with TestUpstream.running(Behaviour(linger_s=0.5)) as upstream:
        served.orchestrator.register(manifest("lingering", upstream))
        with client(served) as api:
            stream = api.chat.completions.create(model="lingering", messages=ask(), stream=True)
            chunks = list(stream)
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert wait_for(lambda: upstream.seen.finished_streams == 1)
        assert upstream.seen.disconnects == 0  # not cancelled when the client left
        store = served.orchestrator.store
        assert wait_for(lambda: [r for r in store.audit_records() if r.workflow == "gateway"])
        (record,) = [r for r in store.audit_records() if r.workflow == "gateway"]
        assert "cancelled" not in orjson.loads(record.data)
        assert record.cost > 0  # the usage the upstream reported after the text
        stats = served.orchestrator.router.model_stats("lingering@1.0.0")  # type: ignore[attr-defined]
        assert stats is not None and stats["calls"] == 1 and stats["errors"] == 0
