"""Risk-scoring scenario: three fraud classifiers of rising cost on the same features.

Data: :func:`podium.demo.risk_data.generate` (12,000 transactions, seed 7), split once into
75% train / 25% held out, stratified, seed :data:`SEED`. Labels are ``"fraud"`` and
``"legit"``.

=====================  ===========================================  ==========
model                  estimator                                    cost tier
=====================  ===========================================  ==========
``risk-logistic``      StandardScaler + LogisticRegression          cheap
``risk-gbm``           HistGradientBoosting (150 iterations)        medium
``risk-forest-large``  RandomForest (200 trees, min leaf 4)          expensive
=====================  ===========================================  ==========
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from podium.demo._artifacts import (
    classification_scores,
    median_latency_ms,
    save_metrics,
    save_skops,
    train_once,
)
from podium.demo.risk_data import FEATURES, generate

SEED = 7
N_SAMPLES = 12_000
TEST_SIZE = 0.25
MODELS = ("risk-logistic", "risk-gbm", "risk-forest-large")

#: Which fields are whole numbers (for readable held-out inputs).
_INTEGER_FIELDS = {"hour", "n_tx_last_24h", "foreign", "card_present", "account_age_days"}


def split() -> tuple[Any, Any, Any, Any]:
    """``(X_train, X_test, y_train, y_test)`` for the fixed held-out split."""
    from sklearn.model_selection import train_test_split

    x, y = generate(N_SAMPLES, seed=SEED)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, stratify=y, random_state=SEED
    )
    return x_train, x_test, y_train, y_test


def held_out_cases() -> list[dict[str, Any]]:
    """Held-out transactions as ``{"inputs": {8 fields}, "expected": {"label": ...}}``."""
    _, x_test, _, y_test = split()
    cases = []
    for row, label in zip(x_test, y_test, strict=True):
        inputs: dict[str, Any] = {
            name: int(v) if name in _INTEGER_FIELDS else float(v)
            for name, v in zip(FEATURES, row, strict=True)
        }
        cases.append({"inputs": inputs, "expected": {"label": str(label)}})
    return cases


def _estimator(model: str) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "risk-logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    if model == "risk-gbm":
        return HistGradientBoostingClassifier(
            max_iter=150, learning_rate=0.05, max_leaf_nodes=15, random_state=SEED
        )
    return RandomForestClassifier(
        n_estimators=200, min_samples_leaf=4, max_features=0.5, n_jobs=-1, random_state=SEED
    )


def ensure_trained(home: Path) -> dict[str, dict[str, Any]]:
    """Train what is missing; return each model's stored metrics."""
    return train_once(home, MODELS, _train)


def _train(folder: Path) -> None:
    x_train, x_test, y_train, y_test = split()
    for model in MODELS:
        started = time.perf_counter()
        estimator = _estimator(model).fit(x_train, y_train)
        seconds = time.perf_counter() - started
        if hasattr(estimator, "n_jobs"):
            estimator.n_jobs = None  # one sample per call: thread fan-out only adds overhead
        path = folder / f"{model}.skops"
        save_skops(estimator, path)
        scores = classification_scores(y_test, estimator.predict(x_test))
        sample = x_test[:1]
        save_metrics(
            folder,
            model,
            path,
            {
                **scores,
                "quality": scores["f1_macro"],
                "n_train": len(y_train),
                "n_test": len(y_test),
                "features": list(FEATURES),
                "classes": [str(c) for c in estimator.classes_],
                "train_seconds": round(seconds, 3),
                "latency_ms": median_latency_ms(functools.partial(estimator.predict_proba, sample)),
            },
        )
