"""OnnxAdapter: skl2onnx classifiers and regressors, class labels, input checks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from podium.adapters import AdapterEnv, AdapterPool, CallContext
from podium.errors import ManifestError, ModelCallError
from podium.registry import ModelSpec

RNG = np.random.default_rng(1)
X = RNG.normal(size=(80, 3)).astype(np.float32)
Y_STR = np.where(X[:, 0] - X[:, 2] > 0, "up", "down")
Y_INT = (X[:, 1] > 0).astype(np.int64) * 7


def _convert(model: Any, path: Path, *, zipmap: bool = False, meta: bool = False) -> Path:
    options = None if zipmap or not hasattr(model, "classes_") else {"zipmap": False}
    onx = to_onnx(model, initial_types=[("input", FloatTensorType([None, 3]))], options=options)
    if meta:
        entry = onx.metadata_props.add()
        entry.key, entry.value = "classes", json.dumps([str(c) for c in model.classes_])
    path.write_bytes(onx.SerializeToString())
    return path


def _spec(path: Path, **runtime: Any) -> ModelSpec:
    return ModelSpec(
        name="onx",
        version="2.0.0",
        capabilities=["test.model"],
        runtime={"kind": "onnx", "path": str(path), **runtime},
    )


def _call(spec: ModelSpec, inputs: dict[str, Any], home: Path) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        pool = AdapterPool(AdapterEnv(home=home, implementations=lambda s: None))
        try:
            return await pool.invoke(spec, inputs, CallContext())
        finally:
            await pool.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("source", ["metadata", "runtime", "graph", "zipmap"])
def test_classifier_labels_and_probabilities(tmp_path: Path, source: str) -> None:
    model = LogisticRegression().fit(X, Y_STR)
    path = _convert(
        model, tmp_path / "m.onnx", zipmap=source == "zipmap", meta=source == "metadata"
    )
    runtime = {"classes": ["down", "up"]} if source == "runtime" else {}
    row = [0.4, -0.2, 1.1]
    out = _call(_spec(path, **runtime), {"features": row}, tmp_path)
    proba = model.predict_proba(np.asarray([row]))[0]
    assert out["label"] == model.predict(np.asarray([row]))[0]
    assert out["probabilities"] == pytest.approx(
        dict(zip(model.classes_, proba, strict=True)), abs=1e-5
    )
    assert out["confidence"] == pytest.approx(proba.max(), abs=1e-5)


def test_integer_classes(tmp_path: Path) -> None:
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, Y_INT)
    path = _convert(model, tmp_path / "tree.onnx")
    out = _call(_spec(path), {"features": [0.0, 1.0, 0.0]}, tmp_path)
    assert out["label"] == 7
    assert type(out["label"]) is int
    assert set(out["probabilities"]) == {"0", "7"}


def test_regressor_returns_value(tmp_path: Path) -> None:
    model = LinearRegression().fit(X, X @ np.array([1.0, -1.0, 0.5], dtype=np.float32))
    path = _convert(model, tmp_path / "reg.onnx")
    out = _call(_spec(path), {"features": [2.0, 1.0, 2.0]}, tmp_path)
    assert out["value"] == pytest.approx(2.0, abs=1e-4)


def test_feature_order_and_missing_field(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y_STR)
    spec = _spec(_convert(model, tmp_path / "m.onnx"), feature_order=["x", "y", "z"])
    out = _call(spec, {"z": 1.1, "x": 0.4, "y": -0.2}, tmp_path)
    assert out["label"] == model.predict(np.asarray([[0.4, -0.2, 1.1]]))[0]
    with pytest.raises(ModelCallError, match=r"onx@2\.0\.0.*'y'") as info:
        _call(spec, {"z": 1.1, "x": 0.4}, tmp_path)
    assert info.value.retryable is False


def test_wrong_feature_count(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y_STR)
    spec = _spec(_convert(model, tmp_path / "m.onnx"))
    with pytest.raises(ModelCallError, match=r"4 values.*takes 3") as info:
        _call(spec, {"features": [1.0, 2.0, 3.0, 4.0]}, tmp_path)
    assert info.value.retryable is False


def test_feature_order_length_must_match(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y_STR)
    spec = _spec(_convert(model, tmp_path / "m.onnx"), feature_order=["x", "y"])
    with pytest.raises(ManifestError, match="feature_order"):
        _call(spec, {"x": 1.0, "y": 2.0}, tmp_path)


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not found"):
        _call(_spec(tmp_path / "absent.onnx"), {"features": [1.0, 2.0, 3.0]}, tmp_path)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(ManifestError, match=r"bad\.onnx"):
        _call(_spec(bad), {"features": [1.0, 2.0, 3.0]}, tmp_path)
