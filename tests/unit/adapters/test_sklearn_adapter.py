"""SklearnAdapter: skops loading with an allow-list, input shapes, output contract."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sklearn")
skops_io = pytest.importorskip("skops.io")

from sklearn.base import BaseEstimator, TransformerMixin  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

from podium.adapters import AdapterEnv, AdapterPool, CallContext  # noqa: E402
from podium.adapters._sklearn import SklearnAdapter, trusted_types  # noqa: E402
from podium.errors import ManifestError, ModelCallError  # noqa: E402
from podium.registry import ModelSpec  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 3))
Y_STR = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
Y_INT = (X[:, 0] > 0).astype(int) + (X[:, 2] > 1).astype(int)


class Doubler(BaseEstimator, TransformerMixin):
    """A custom transformer: skops does not trust it unless told to."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, x: Any) -> Any:
        return np.asarray(x) * 2


def _spec(path: Path, **runtime: Any) -> ModelSpec:
    return ModelSpec(
        name="m",
        version="1.0.0",
        capabilities=["test.model"],
        runtime={"kind": "sklearn", "path": str(path), **runtime},
    )


def _dump(model: Any, path: Path) -> Path:
    skops_io.dump(model, path)
    return path


def _call(spec: ModelSpec, inputs: dict[str, Any], home: Path) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        pool = AdapterPool(AdapterEnv(home=home, implementations=lambda s: None))
        try:
            return await pool.invoke(spec, inputs, CallContext())
        finally:
            await pool.aclose()

    return asyncio.run(go())


def test_classifier_with_string_labels(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y_STR)
    spec = _spec(_dump(model, tmp_path / "m.skops"))
    row = [0.3, -1.2, 0.5]
    out = _call(spec, {"features": row}, tmp_path)
    proba = model.predict_proba([row])[0]
    assert out["label"] == model.predict([row])[0]
    assert isinstance(out["label"], str)
    assert out["probabilities"] == pytest.approx(dict(zip(model.classes_, proba, strict=True)))
    assert out["confidence"] == pytest.approx(proba.max())


def test_integer_classes_stay_integers(tmp_path: Path) -> None:
    model = DecisionTreeClassifier(random_state=0).fit(X, Y_INT)
    spec = _spec(_dump(model, tmp_path / "m.skops"))
    out = _call(spec, {"features": [1.0, 0.0, 2.0]}, tmp_path)
    assert out["label"] == int(model.predict([[1.0, 0.0, 2.0]])[0])
    assert type(out["label"]) is int
    assert set(out["probabilities"]) == {"0", "1", "2"}


def test_regressor_returns_value(tmp_path: Path) -> None:
    model = LinearRegression().fit(X, X @ [1.0, 2.0, 3.0])
    spec = _spec(_dump(model, tmp_path / "m.skops"))
    out = _call(spec, {"features": [1, 1, 1]}, tmp_path)
    assert out == {"value": pytest.approx(6.0)}


def test_feature_order_reads_named_fields(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y_STR)
    spec = _spec(_dump(model, tmp_path / "m.skops"), feature_order=["a", "b", "c"])
    out = _call(spec, {"c": 0.5, "a": 0.3, "b": -1.2, "unused": "x"}, tmp_path)
    assert out["label"] == model.predict([[0.3, -1.2, 0.5]])[0]


def test_missing_field_names_model_and_field(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y_STR)
    spec = _spec(_dump(model, tmp_path / "m.skops"), feature_order=["a", "b", "c"])
    with pytest.raises(ModelCallError, match=r"m@1\.0\.0.*'b'") as info:
        _call(spec, {"a": 1.0, "c": 2.0}, tmp_path)
    assert info.value.retryable is False


def test_wrong_feature_count_is_not_retryable(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y_STR)
    spec = _spec(_dump(model, tmp_path / "m.skops"))
    with pytest.raises(ModelCallError, match=r"features.*2 values.*takes 3") as info:
        _call(spec, {"features": [1.0, 2.0]}, tmp_path)
    assert info.value.retryable is False


@pytest.mark.parametrize("bad", ["1.0", None, True, float("nan")])
def test_non_numbers_are_refused(tmp_path: Path, bad: Any) -> None:
    model = LogisticRegression().fit(X, Y_STR)
    spec = _spec(_dump(model, tmp_path / "m.skops"), feature_order=["a", "b", "c"])
    with pytest.raises(ModelCallError, match="'c'") as info:
        _call(spec, {"a": 1.0, "b": 2.0, "c": bad}, tmp_path)
    assert info.value.retryable is False


def test_feature_order_length_must_match_model(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y_STR)
    spec = _spec(_dump(model, tmp_path / "m.skops"), feature_order=["a", "b"])
    with pytest.raises(ManifestError, match="feature_order"):
        _call(spec, {"a": 1.0, "b": 2.0}, tmp_path)


def test_text_pipeline_takes_text(tmp_path: Path) -> None:
    texts = ["refund my card", "app crashes", "charged twice", "error on login screen"] * 5
    labels = ["billing", "technical", "billing", "technical"] * 5
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    spec = _spec(_dump(model, tmp_path / "m.skops"))
    out = _call(spec, {"text": "I was charged twice"}, tmp_path)
    assert out["label"] == model.predict(["I was charged twice"])[0] == "billing"


def test_untrusted_type_is_refused_naming_file_and_type(tmp_path: Path) -> None:
    path = _dump(make_pipeline(Doubler(), LogisticRegression()).fit(X, Y_STR), tmp_path / "m.skops")
    spec = _spec(path)
    with pytest.raises(ManifestError) as info:
        _call(spec, {"features": [0.0, 0.0, 0.0]}, tmp_path)
    assert "Doubler" in str(info.value)
    assert str(path) in str(info.value)


def test_manifest_can_trust_a_named_type(tmp_path: Path) -> None:
    model = make_pipeline(Doubler(), LogisticRegression()).fit(X, Y_STR)
    path = _dump(model, tmp_path / "m.skops")
    (untrusted,) = [t for t in skops_io.get_untrusted_types(file=path) if "Doubler" in t]
    assert trusted_types(path, [untrusted]) == skops_io.get_untrusted_types(file=path)
    out = _call(_spec(path, trusted=[untrusted]), {"features": [0.1, 0.2, 0.3]}, tmp_path)
    assert out["label"] == model.predict([[0.1, 0.2, 0.3]])[0]


def test_sklearn_numpy_scipy_types_are_trusted(tmp_path: Path) -> None:
    path = _dump(DecisionTreeClassifier().fit(X, Y_STR), tmp_path / "tree.skops")
    reported = skops_io.get_untrusted_types(file=path)
    assert reported  # the tree's Cython type is not trusted by skops itself
    assert trusted_types(path) == reported


def test_missing_file_is_a_manifest_error(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "absent.skops")
    with pytest.raises(ManifestError, match=r"absent\.skops"):
        _call(spec, {"features": [1.0]}, tmp_path)


def test_pickle_file_is_not_loaded(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "m.skops"
    path.write_bytes(pickle.dumps(LogisticRegression()))
    with pytest.raises(ManifestError, match=r"m\.skops"):
        _call(_spec(path), {"features": [1.0, 2.0, 3.0]}, tmp_path)


def test_relative_path_resolves_against_home(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y_STR)
    _dump(model, tmp_path / "rel.skops")
    out = _call(_spec(Path("rel.skops")), {"features": [0.0, 1.0, 0.0]}, tmp_path)
    assert out["label"] == model.predict([[0.0, 1.0, 0.0]])[0]


def test_loads_once_for_concurrent_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = LogisticRegression().fit(X, Y_STR)
    spec = _spec(_dump(model, tmp_path / "m.skops"))
    loads: list[Path] = []
    real_load = skops_io.load

    def counting_load(path: Path, **kwargs: Any) -> Any:
        loads.append(path)
        return real_load(path, **kwargs)

    monkeypatch.setattr(skops_io, "load", counting_load)

    async def go() -> list[dict[str, Any]]:
        env = AdapterEnv(home=tmp_path, implementations=lambda s: None)
        adapter = SklearnAdapter(spec, env)
        try:
            rows = [{"features": [float(i), 0.0, 1.0]} for i in range(20)]
            return await asyncio.gather(*(adapter.call(r, CallContext()) for r in rows))
        finally:
            await adapter.aclose()
            await env.aclose()

    outputs = asyncio.run(go())
    assert len(loads) == 1
    expected = model.predict([[float(i), 0.0, 1.0] for i in range(20)])
    assert [o["label"] for o in outputs] == list(expected)
