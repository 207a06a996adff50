"""The shipped demo models, trained once per session into a temporary home.

Every model is called through its adapter and compared with the library called
directly; the ONNX conversion is checked against scikit-learn on the whole held-out set;
each quality prior is checked against a fresh held-out measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skops")
pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")
pytest.importorskip("vaderSentiment")

import skops.io as sio
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import f1_score

from podium.adapters import AdapterEnv, AdapterPool, CallContext
from podium.demo import catalog, diagnostics, risk, support
from podium.demo.catalog import demo_models, held_out
from podium.demo.entities import entity_scores, extract
from podium.demo.risk_data import FEATURES, generate
from podium.demo.sentiment import label_of, sentiment_scores
from podium.demo.tone import SupportTone, compare_on_held_out, tone_messages, tone_scores
from podium.errors import ManifestError, UserError
from podium.registry import ModelSpec, Registry, load_manifests
from podium.store import MemoryStore

pytestmark = pytest.mark.slow

SHIPPED = {
    "dx-size": "diagnosis.malignancy",
    "dx-texture": "diagnosis.malignancy",
    "dx-shape": "diagnosis.malignancy",
    "dx-full": "diagnosis.malignancy",
    "dx-size-onnx": "diagnosis.malignancy",
    "dx-stacker": "diagnosis.stacking",
    "intent-classifier": "text.intent",
    "keyword-intent": "text.intent",
    "entity-extractor": "text.entities",
    "vader-sentiment": "text.sentiment",
    "support-tone": "text.sentiment",
    "crm-lookup": "crm.lookup",
    "reply-drafter": "text.reply",
    "risk-logistic": "risk.score",
    "risk-gbm": "risk.score",
    "risk-forest-large": "risk.score",
}
SKLEARN_MODELS = [
    n
    for n in SHIPPED
    if n.startswith(("dx-", "risk-", "intent-")) and n not in ("dx-size-onnx", "dx-stacker")
]
SCENARIO = {"dx": "diagnostics", "risk": "risk", "intent": "support"}


@dataclass
class Trained:
    home: Path
    specs: dict[str, ModelSpec]
    seconds: float


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Train every demo model once per session into a fresh home."""
    home = tmp_path_factory.mktemp("podium-home")
    started = time.perf_counter()
    specs = demo_models(home)
    seconds = time.perf_counter() - started
    return Trained(home, {s.name: s for s in specs}, seconds)


def _invoke_all(home: Path, spec: ModelSpec, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        pool = AdapterPool(AdapterEnv(home=home, implementations=lambda s: None))
        try:
            return [await pool.invoke(spec, i, CallContext()) for i in inputs]
        finally:
            await pool.aclose()

    return asyncio.run(go())


def _cases(name: str) -> list[dict[str, Any]]:
    return held_out(Path("."), SCENARIO[name.split("-", maxsplit=1)[0]])


def _model_inputs(name: str, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if name == "intent-classifier":
        return [{"text": c["inputs"]["message"]} for c in cases]
    return [c["inputs"] for c in cases]


def _matrix(spec: ModelSpec, inputs: list[dict[str, Any]]) -> Any:
    """What the library itself takes: raw texts, or rows in ``feature_order``."""
    order = spec.runtime.feature_order  # type: ignore[union-attr]
    if order is None:
        return [i["text"] for i in inputs]
    return np.asarray([[i[f] for f in order] for i in inputs], dtype=np.float64)


def _load_direct(spec: ModelSpec) -> Any:
    path = spec.runtime.path  # type: ignore[union-attr]
    return sio.load(path, trusted=sio.get_untrusted_types(file=path))


def _onnx_direct(spec: ModelSpec, x: Any) -> tuple[list[str], Any]:
    session = diagnostics.onnx_session(Path(spec.runtime.path))  # type: ignore[union-attr]
    return diagnostics.run_onnx(session, np.asarray(x, dtype=np.float32))


def test_every_model_is_shipped_with_real_files(trained: Trained) -> None:
    assert {n: s.capabilities[0] for n, s in trained.specs.items()} == SHIPPED
    for spec in trained.specs.values():
        path = getattr(spec.runtime, "path", None)
        if path is not None:
            assert Path(path).is_absolute()
            assert Path(path).is_file()
            assert Path(path).parent == trained.home.resolve() / "demo"
    assert trained.specs["dx-size-onnx"].runtime.kind == "onnx"
    assert (trained.home / "demo" / "crm.db").is_file()


def test_first_training_is_fast(trained: Trained) -> None:
    assert trained.seconds < 120, f"first-time training took {trained.seconds:.1f}s"


def test_costs_rise_with_model_size(trained: Trained) -> None:
    cost = {n: s.cost.per_call for n, s in trained.specs.items()}
    assert cost["risk-logistic"] < cost["risk-gbm"] < cost["risk-forest-large"]
    assert cost["dx-size-onnx"] <= cost["dx-size"] < cost["dx-full"]
    assert cost["keyword-intent"] < cost["intent-classifier"]
    latency = {n: s.latency_ms for n, s in trained.specs.items()}
    assert latency["risk-logistic"] < latency["risk-forest-large"]


@pytest.mark.parametrize("name", SKLEARN_MODELS)
def test_adapter_matches_scikit_learn(trained: Trained, name: str) -> None:
    spec = trained.specs[name]
    cases = _cases(name)[:60]
    inputs = _model_inputs(name, cases)
    outputs = _invoke_all(trained.home, spec, inputs)
    model = _load_direct(spec)
    x = _matrix(spec, inputs)
    assert [o["label"] for o in outputs] == [str(v) for v in model.predict(x)]
    proba = model.predict_proba(x)
    for out, row in zip(outputs, proba, strict=True):
        assert out["probabilities"] == pytest.approx(
            {str(c): p for c, p in zip(model.classes_, row, strict=True)}
        )
        assert out["confidence"] == pytest.approx(row.max())


def test_onnx_matches_onnxruntime_and_scikit_learn_on_whole_held_out(trained: Trained) -> None:
    cases = held_out(trained.home, "diagnostics")
    inputs = _model_inputs("dx-size-onnx", cases)
    onnx_out = _invoke_all(trained.home, trained.specs["dx-size-onnx"], inputs)
    sk_out = _invoke_all(trained.home, trained.specs["dx-size"], inputs)
    assert len(onnx_out) == len(cases) == 143
    assert [o["label"] for o in onnx_out] == [o["label"] for o in sk_out]
    for a, b in zip(onnx_out, sk_out, strict=True):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-4)
    labels, proba = _onnx_direct(
        trained.specs["dx-size-onnx"], _matrix(trained.specs["dx-size-onnx"], inputs)
    )
    assert [o["label"] for o in onnx_out] == labels
    assert [o["probabilities"]["malignant"] for o in onnx_out] == pytest.approx(
        [float(p) for p in proba[:, 1]], abs=1e-6
    )


@pytest.mark.parametrize("name", [*SKLEARN_MODELS, "dx-size-onnx"])
def test_quality_prior_equals_fresh_held_out_measurement(trained: Trained, name: str) -> None:
    spec = trained.specs[name]
    cases = _cases(name)
    inputs = _model_inputs(name, cases)
    truth = [c["expected"]["label" if name != "intent-classifier" else "intent"] for c in cases]
    x = _matrix(spec, inputs)
    if name == "dx-size-onnx":
        predicted, _ = _onnx_direct(spec, x)
    else:
        predicted = [str(v) for v in _load_direct(spec).predict(x)]
    fresh = round(float(f1_score(truth, predicted, average="macro")), 4)
    assert spec.quality == {SHIPPED[name]: fresh}
    stored = json.loads((trained.home / "demo" / f"{name}.metrics.json").read_text())
    assert stored["f1_macro"] == fresh
    assert f"{stored['accuracy']:.3f}" in spec.description


def test_rule_models_quality_in_manifests_is_measured(trained: Trained) -> None:
    manifests = {s.name: s for s in load_manifests(catalog.MANIFESTS)}
    assert set(manifests) == {
        "keyword-intent",
        "entity-extractor",
        "vader-sentiment",
        "support-tone",
        "crm-lookup",
        "reply-drafter",
    }
    fresh = {
        "keyword-intent": {"text.intent": support.keyword_intent_scores()["f1_macro"]},
        "entity-extractor": {"text.entities": entity_scores()["f1_micro"]},
        "vader-sentiment": {"text.sentiment": sentiment_scores()["f1_macro"]},
        "support-tone": {"text.sentiment": tone_scores()["f1_macro"]},
        "crm-lookup": {},
        "reply-drafter": {},
    }
    for name, quality in fresh.items():
        assert manifests[name].quality == quality, name
        assert trained.specs[name].quality == quality, name


def test_rule_models_match_their_libraries(trained: Trained) -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    texts = [{"text": c["inputs"]["message"]} for c in held_out(trained.home, "support")]
    keyword = _invoke_all(trained.home, trained.specs["keyword-intent"], texts)
    rules = support.KeywordIntent()
    assert keyword == [rules.predict(t["text"]) for t in texts]
    entities = _invoke_all(trained.home, trained.specs["entity-extractor"], texts)
    assert entities == [extract(t["text"]) for t in texts]
    vader = _invoke_all(trained.home, trained.specs["vader-sentiment"], texts)
    analyzer = SentimentIntensityAnalyzer()
    assert [v["score"] for v in vader] == [
        analyzer.polarity_scores(t["text"])["compound"] for t in texts
    ]
    assert {v["label"] for v in vader} <= {"positive", "neutral", "negative"}
    tone = _invoke_all(trained.home, trained.specs["support-tone"], texts)
    reader = SupportTone()
    assert tone == [reader.predict(t["text"]) for t in texts]


def test_crm_lookup_reads_the_sqlite_table(
    trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_HOME", str(trained.home))  # where CrmLookup finds its database
    db = trained.home / "demo" / "crm.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT customer_id, name, tier, open_tickets, lifetime_value FROM customers"
        ).fetchall()
    assert len(rows) == 40
    ids = [rows[0][0], rows[17][0], "CUST-0000"]
    out = _invoke_all(trained.home, trained.specs["crm-lookup"], [{"customer_id": i} for i in ids])
    assert out[0] == {
        "found": True,
        "name": rows[0][1],
        "tier": rows[0][2],
        "open_tickets": rows[0][3],
        "lifetime_value": rows[0][4],
    }
    assert out[1]["name"] == rows[17][1]
    assert out[2]["found"] is False


def _fake_llm(seen: list[dict[str, Any]], status: int = 200) -> Callable[..., Any]:
    async def app(
        scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append({"path": scope["path"], "payload": json.loads(body)})
        reply = {
            "choices": [{"message": {"role": "assistant", "content": "  Hello from the LLM.  "}}]
        }
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(reply).encode()})

    return app


def test_reply_drafter_template_llm_and_fallback(
    trained: Trained,
    monkeypatch: pytest.MonkeyPatch,
    asgi_server: Callable[[Any], AbstractContextManager[str]],
) -> None:
    monkeypatch.delenv("PODIUM_LLM_BASE_URL", raising=False)
    spec = trained.specs["reply-drafter"]
    request = {
        "intent": "shipping",
        "sentiment": "negative",
        "tier": "premium",
        "name": "Ada Moreau",
    }
    (template,) = _invoke_all(trained.home, spec, [request])
    assert template["source"] == "template"
    assert template["reply"].startswith("Hi Ada,")
    assert "carrier" in template["reply"]
    assert "Premium" in template["reply"]

    seen: list[dict[str, Any]] = []
    with asgi_server(_fake_llm(seen)) as url:
        monkeypatch.setenv("PODIUM_LLM_BASE_URL", url + "/v1")
        monkeypatch.setenv("PODIUM_LLM_MODEL", "tiny-chat")
        (llm,) = _invoke_all(trained.home, spec, [request])
    assert llm == {"reply": "Hello from the LLM.", "source": "llm"}
    assert seen[0]["path"] == "/v1/chat/completions"
    assert seen[0]["payload"]["model"] == "tiny-chat"
    assert "Intent: shipping" in seen[0]["payload"]["messages"][-1]["content"]

    with asgi_server(_fake_llm([], status=500)) as url:
        monkeypatch.setenv("PODIUM_LLM_BASE_URL", url + "/v1")
        (fallback,) = _invoke_all(trained.home, spec, [request])
    assert fallback == template


COMPLAINT = "I was charged twice for ORD-12345, please refund me"


def test_a_complaint_is_never_thanked_for_kind_words() -> None:
    from podium.demo.reply import template_reply

    for sentiment in ("positive", "negative", None):  # "positive" is what VADER said
        reply = template_reply(
            "billing", sentiment, "premium", "Pablo Ruiz", "ORD-12345", COMPLAINT
        )
        assert "kind words" not in reply
        assert "I'm sorry about this" in reply
        assert "looked into the charge for order ORD-12345" in reply


def test_the_reply_fits_what_the_message_does() -> None:
    from podium.demo.reply import template_reply

    praise = template_reply("billing", "positive", message="Refund received, all good. Thanks!")
    assert "kind words" in praise and "glad it all worked out" in praise
    assert "looked into the charge" not in praise
    asks = template_reply("billing", "positive", message="Love it! How do I get a VAT invoice?")
    assert "kind words" in asks and "billing question" in asks
    question = template_reply("billing", "neutral", message="Does the price include tax?")
    assert question.startswith("Hello,\n\nThanks for reaching out. I've passed your billing")
    assert "sorry" not in question.lower()


class Sneaky(BaseEstimator, ClassifierMixin):
    """Not a scikit-learn type: a skops file holding it must not load by default."""

    def fit(self, x: Any, y: Any) -> Sneaky:
        self.classes_ = np.unique(y)
        return self

    def predict(self, x: Any) -> Any:
        return np.repeat(self.classes_[:1], len(x))


def test_skops_refuses_an_untrusted_type(trained: Trained, tmp_path: Path) -> None:
    path = tmp_path / "sneaky.skops"
    sio.dump(Sneaky().fit([[0.0], [1.0]], ["a", "b"]), path)
    spec = ModelSpec(
        name="sneaky",
        version="1.0.0",
        capabilities=["test.sneaky"],
        runtime={"kind": "sklearn", "path": str(path)},
    )
    with pytest.raises(ManifestError) as info:
        _invoke_all(trained.home, spec, [{"features": [0.5]}])
    assert "Sneaky" in str(info.value)
    assert "sneaky.skops" in str(info.value)


def test_second_call_reuses_the_cache(trained: Trained) -> None:
    folder = trained.home / "demo"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    started = time.perf_counter()
    again = {s.name: s for s in demo_models(trained.home)}
    assert time.perf_counter() - started < 5
    assert again == trained.specs
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_tampered_model_file_is_retrained(trained: Trained, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(trained.home / "demo", home / "demo")
    target = home / "demo" / "dx-texture.skops"
    original = target.read_bytes()
    target.write_bytes(b"tampered")
    metrics = diagnostics.ensure_trained(home)
    assert target.read_bytes() != b"tampered"
    assert (
        metrics["dx-texture"]["f1_macro"]
        == trained.specs["dx-texture"].quality["diagnosis.malignancy"]
    )
    assert sio.get_untrusted_types(data=target.read_bytes()) == sio.get_untrusted_types(
        data=original
    )


def test_held_out_shapes(trained: Trained) -> None:
    dx = held_out(trained.home, "diagnostics")
    assert len(dx) == 143
    assert set(dx[0]["inputs"]) == set(diagnostics.feature_names())
    assert {c["expected"]["label"] for c in dx} == {"malignant", "benign"}
    sup = held_out(trained.home, "support")
    assert len(sup) == 80
    assert set(sup[0]["inputs"]) == {"message", "customer_id"}
    assert set(sup[0]["expected"]) == {"intent", "sentiment", "entities"}
    assert {c["expected"]["intent"] for c in sup} == set(support.INTENTS)
    rk = held_out(trained.home, "risk")
    assert len(rk) == 3000
    assert set(rk[0]["inputs"]) == set(FEATURES)
    assert {c["expected"]["label"] for c in rk} == {"fraud", "legit"}
    with pytest.raises(UserError, match="unknown demo scenario"):
        held_out(trained.home, "weather")


def test_support_data_is_varied_and_labelled() -> None:
    rows = support.messages()
    assert len(rows) >= 300
    assert len({r["text"] for r in rows}) == len(rows)
    assert sum(bool(r["order_ids"]) for r in rows) >= 40
    assert sum(bool(r["emails"]) for r in rows) >= 15
    assert sum(bool(r["amounts"]) for r in rows) >= 30
    assert sum(bool(r["dates"]) for r in rows) >= 20


def test_tone_set_is_varied_labelled_and_partly_held_out() -> None:
    rows = tone_messages()
    assert len(rows) >= 60
    assert len({r["text"] for r in rows}) == len(rows)
    assert {r["tone"] for r in rows} == {"positive", "neutral", "negative"}
    assert len({r["style"] for r in rows}) >= 15
    test = tone_messages("test")
    assert len(test) >= 40 and {r["tone"] for r in test} == {"positive", "neutral", "negative"}
    assert len(tone_messages("dev")) + len(test) == len(rows)
    # no message of the tone set is (nearly) one of the demo's own
    demo = [r["text"].lower() for r in support.messages()]
    for row in rows:
        text = row["text"].lower()
        assert max(difflib.SequenceMatcher(None, text, d).ratio() for d in demo) < 0.8, text


def test_support_tone_reads_complaints_far_better_than_vader_alone() -> None:
    """Measured on both held-out sets (neither was used to write the rules)."""
    scores = compare_on_held_out()
    assert scores["support messages"] == {
        "vader-sentiment": {"accuracy": 0.5125, "f1_macro": 0.4935},
        "support-tone": {"accuracy": 0.8125, "f1_macro": 0.8242},
    }
    assert scores["tone set"] == {
        "vader-sentiment": {"accuracy": 0.6333, "f1_macro": 0.6325},
        "support-tone": {"accuracy": 0.8833, "f1_macro": 0.884},
    }


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I was charged twice for ORD-12345, please refund me", "negative"),
        ("Please refund the duplicate charge, thanks.", "negative"),
        ("Thanks, Nina. Half of my order is missing.", "negative"),
        ("How do I add a second user? Thanks!", "neutral"),
        ("Please cancel my plan at the end of the month.", "neutral"),
        ("The fix worked, thank you so much for the quick help!", "positive"),
        ("thank you, the update fixed the crash problem", "positive"),
    ],
)
def test_support_tone_labels_what_the_message_does(text: str, label: str) -> None:
    out = SupportTone().predict(text)
    assert out["label"] == label, out
    assert label_of(out["score"]) == label
    assert out["complaint"] is (label == "negative")
    if label == "negative":
        assert out["cues"] and -0.5 <= out["score"] <= -0.3  # a complaint, not a rage


def test_strong_anger_still_scores_below_the_escalation_line() -> None:
    out = SupportTone().predict(
        "This is the third time I'm writing. Absolutely ridiculous, I want my money back!!"
    )
    assert out["label"] == "negative" and out["score"] < -0.5


def test_risk_generator_is_reproducible() -> None:
    x1, y1 = generate(500, seed=3)
    x2, y2 = generate(500, seed=3)
    assert np.array_equal(x1, x2)
    assert list(y1) == list(y2)
    x, y = generate(risk.N_SAMPLES, seed=risk.SEED)
    assert x.shape == (risk.N_SAMPLES, len(FEATURES))
    assert 0.05 < float(np.mean(y == "fraud")) < 0.2


def test_demo_specs_register_without_contract_breaks(trained: Trained) -> None:
    registry = Registry(MemoryStore())
    for spec in trained.specs.values():
        registry.register(spec)
    assert len(registry) == len(SHIPPED)


def test_stacker_through_its_adapter_matches_the_library(trained: Trained) -> None:
    """dx-stacker on the members' probabilities, as ``combine: stacking`` feeds it."""
    from podium.demo import stacking
    from podium.engine._aggregate import Vote, stacking_features

    spec = trained.specs["dx-stacker"]
    meta = _load_direct(spec)
    _, x_test, _, _, names = diagnostics.split()
    members = {m: _load_direct(trained.specs[m]) for m in stacking.MEMBERS}
    direct = stacking.member_features(members, x_test[:40], names)
    expected = meta.predict(direct)
    rows = []
    for row in direct:
        votes = [
            Vote(
                m,
                {
                    "label": "x",
                    "probabilities": dict(
                        zip(("benign", "malignant"), row[2 * i : 2 * i + 2], strict=True)
                    ),
                },
                1.0,
            )
            for i, m in enumerate(stacking.MEMBERS)
        ]
        rows.append({"features": stacking_features(votes)})
    outputs = _invoke_all(trained.home, spec, rows)
    assert [o["label"] for o in outputs] == [str(v) for v in expected]
