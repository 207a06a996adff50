"""Diagnostics scenario: specialists that each read one group of tumour measurements.

Data: scikit-learn's bundled Wisconsin breast-cancer set (569 samples, 30 features),
split once into 75% train / 25% held out, stratified, with :data:`SEED`. Feature names
are turned into identifiers (``mean radius`` -> ``mean_radius``) so that one workflow
input object holding all 30 fields can be passed to every specialist; each specialist's
``runtime.feature_order`` lists the fields it reads. Labels are ``"malignant"`` and
``"benign"``.

================  =============================================  ===========================
model             features                                       estimator
================  =============================================  ===========================
``dx-size``       radius, perimeter, area (mean, error, worst)   scaler + LogisticRegression
``dx-texture``    texture, smoothness, symmetry                  GaussianNB
``dx-shape``      compactness, concavity, concave points,        DecisionTree (depth 4)
                  fractal dimension
``dx-full``       all 30                                         GradientBoosting (150 trees)
``dx-size-onnx``  as ``dx-size``                                 ``dx-size`` via skl2onnx
``dx-stacker``    the four specialists' probabilities            stacked LogisticRegression
================  =============================================  ===========================
"""

from __future__ import annotations

import functools
import json
import re
import time
from pathlib import Path
from typing import Any

from podium.demo._artifacts import (
    classification_scores,
    median_latency_ms,
    save_metrics,
    save_skops,
    train_once,
    write_atomic,
)

SEED = 42
TEST_SIZE = 0.25
LABELS = ("malignant", "benign")

#: model name -> the measurement kinds it reads (matched against the dataset's names).
GROUPS: dict[str, tuple[str, ...]] = {
    "dx-size": ("radius", "perimeter", "area"),
    "dx-texture": ("texture", "smoothness", "symmetry"),
    "dx-shape": ("compactness", "concavity", "concave points", "fractal dimension"),
    "dx-full": (),
}
ONNX_MODEL = "dx-size-onnx"
STACKER = "dx-stacker"
MODELS = (*GROUPS, ONNX_MODEL, STACKER)


def identifier(name: str) -> str:
    """``"worst concave points"`` -> ``"worst_concave_points"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _dataset() -> tuple[list[str], Any, Any]:
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [identifier(n) for n in data.feature_names]
    labels = np.asarray(data.target_names)[data.target]
    return names, np.asarray(data.data, dtype=np.float64), labels


def feature_names() -> list[str]:
    """All 30 sanitised feature names, in dataset order."""
    return _dataset()[0]


def features_of(model: str) -> list[str]:
    """The fields ``model`` reads (its ``runtime.feature_order``)."""
    names = feature_names()
    kinds = GROUPS["dx-size" if model == ONNX_MODEL else model]
    if not kinds:
        return names
    wanted = {identifier(k) for k in kinds}
    return [n for n in names if re.sub(r"^(mean|worst)_|_error$", "", n) in wanted]


def split() -> tuple[Any, Any, Any, Any, list[str]]:
    """``(X_train, X_test, y_train, y_test, names)`` for the fixed held-out split."""
    from sklearn.model_selection import train_test_split

    names, x, y = _dataset()
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, stratify=y, random_state=SEED
    )
    return x_train, x_test, y_train, y_test, names


def held_out_cases() -> list[dict[str, Any]]:
    """Held-out samples as ``{"inputs": {30 fields}, "expected": {"label": ...}}``."""
    _, x_test, _, y_test, names = split()
    return [
        {
            "inputs": {n: float(v) for n, v in zip(names, row, strict=True)},
            "expected": {"label": str(label)},
        }
        for row, label in zip(x_test, y_test, strict=True)
    ]


def _estimator(model: str) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    if model == "dx-size":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    if model == "dx-texture":
        return GaussianNB()
    if model == "dx-shape":
        return DecisionTreeClassifier(max_depth=4, min_samples_leaf=5, random_state=SEED)
    return GradientBoostingClassifier(n_estimators=150, max_depth=2, random_state=SEED)


def ensure_trained(home: Path) -> dict[str, dict[str, Any]]:
    """Train what is missing; return each model's stored metrics (see :mod:`._artifacts`)."""
    return train_once(home, MODELS, _train)


def _train(folder: Path) -> None:
    import numpy as np

    x_train, x_test, y_train, y_test, names = split()
    column = {n: i for i, n in enumerate(names)}
    size_model: Any = None
    for model in GROUPS:
        fields = features_of(model)
        cols = [column[f] for f in fields]
        started = time.perf_counter()
        estimator = _estimator(model).fit(x_train[:, cols], y_train)
        seconds = time.perf_counter() - started
        path = folder / f"{model}.skops"
        save_skops(estimator, path)
        sample = x_test[:1, cols]
        scores = classification_scores(y_test, estimator.predict(x_test[:, cols]))
        save_metrics(
            folder,
            model,
            path,
            {
                **scores,
                "quality": scores["f1_macro"],
                "n_train": len(y_train),
                "n_test": len(y_test),
                "features": fields,
                "classes": [str(c) for c in estimator.classes_],
                "train_seconds": round(seconds, 3),
                "latency_ms": median_latency_ms(functools.partial(estimator.predict_proba, sample)),
            },
        )
        if model == "dx-size":
            size_model = estimator
    fields = features_of(ONNX_MODEL)
    cols = [column[f] for f in fields]
    path = folder / f"{ONNX_MODEL}.onnx"
    write_atomic(path, to_onnx_bytes(size_model, len(cols)))
    classes = [str(c) for c in size_model.classes_]
    session = onnx_session(path)
    labels, _ = run_onnx(session, x_test[:, cols].astype(np.float32))
    scores = classification_scores(y_test, labels)
    sample32 = x_test[:1, cols].astype(np.float32)
    save_metrics(
        folder,
        ONNX_MODEL,
        path,
        {
            **scores,
            "quality": scores["f1_macro"],
            "n_train": len(y_train),
            "n_test": len(y_test),
            "features": fields,
            "classes": classes,
            "converted_from": "dx-size",
            "latency_ms": median_latency_ms(lambda: run_onnx(session, sample32)),
        },
    )
    from podium.demo import stacking

    stacking.train(folder)


def to_onnx_bytes(estimator: Any, n_features: int) -> bytes:
    """``estimator`` as ONNX: float input ``input``, outputs ``label`` and ``probabilities``.

    Converted with ``zipmap`` off, so probabilities come as a tensor; the class labels
    are stored in the model's metadata under ``classes`` (a JSON list).
    """
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = to_onnx(
        estimator,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options={"zipmap": False},
    )
    entry = onnx_model.metadata_props.add()
    entry.key = "classes"
    entry.value = json.dumps([str(c) for c in estimator.classes_])
    data: bytes = onnx_model.SerializeToString()
    return data


def onnx_session(path: Path) -> Any:
    """A CPU onnxruntime session for ``path``."""
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_onnx(session: Any, x: Any) -> tuple[list[str], Any]:
    """Labels and the probability matrix for the rows of ``x`` (float32)."""
    label, probabilities = session.run(None, {session.get_inputs()[0].name: x})
    return [str(v) for v in label], probabilities
