"""``dx-stacker``: a meta-model that combines the diagnostic specialists (``combine: stacking``).

Stacking done properly: the meta-model never sees a prediction a member made on its own
training rows. Each member's class probabilities on the training split come from 10-fold
cross-validation (out of fold); the meta-model (logistic regression) is fitted on those.
Whether it reads the probabilities as they are or as log-odds is chosen by 5-fold
cross-validation on the same out-of-fold features, so the held-out split is used only
to measure the final model, never to choose it.

The stacker's input is ``{features: [...]}``: for each member in :data:`MEMBERS` order,
its probabilities in sorted class order (``benign``, ``malignant``), which is exactly what
the engine's ``combine: stacking`` passes.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from podium.demo import diagnostics
from podium.demo._artifacts import (
    classification_scores,
    median_latency_ms,
    save_metrics,
    save_skops,
)

NAME = "dx-stacker"
MEMBERS = ("dx-size", "dx-texture", "dx-shape", "dx-full")
FOLDS = 10
EPSILON = 1e-4


def _meta(log_odds: bool) -> Any:
    import numpy as np
    from scipy.special import logit
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    steps: list[Any] = [
        FunctionTransformer(np.clip, kw_args={"a_min": EPSILON, "a_max": 1 - EPSILON})
    ]
    if log_odds:
        steps.append(FunctionTransformer(logit))
    steps.append(LogisticRegression(max_iter=1000))
    return make_pipeline(*steps)


def member_features(estimators: dict[str, Any], x: Any, names: list[str]) -> Any:
    """Each member's class probabilities on ``x`` (sorted classes), side by side."""
    import numpy as np

    column = {n: i for i, n in enumerate(names)}
    blocks = []
    for member in MEMBERS:
        cols = [column[f] for f in diagnostics.features_of(member)]
        blocks.append(estimators[member].predict_proba(x[:, cols]))
    return np.hstack(blocks)


def train(folder: Path) -> dict[str, Any]:
    """Fit the stacker on out-of-fold member probabilities; measure it on the held-out split."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_val_score

    x_train, x_test, y_train, y_test, names = diagnostics.split()
    column = {n: i for i, n in enumerate(names)}
    started = time.perf_counter()
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=diagnostics.SEED)
    out_of_fold, fitted = [], {}
    for member in MEMBERS:
        cols = [column[f] for f in diagnostics.features_of(member)]
        estimator = diagnostics._estimator(member)
        out_of_fold.append(
            cross_val_predict(
                estimator, x_train[:, cols], y_train, cv=folds, method="predict_proba"
            )
        )
        fitted[member] = estimator.fit(x_train[:, cols], y_train)
    features = np.hstack(out_of_fold)
    inner = StratifiedKFold(5, shuffle=True, random_state=diagnostics.SEED)
    choice = {
        log_odds: float(
            cross_val_score(_meta(log_odds), features, y_train, cv=inner, scoring="f1_macro").mean()
        )
        for log_odds in (False, True)
    }
    log_odds = choice[True] > choice[False]
    meta = _meta(log_odds).fit(features, y_train)
    seconds = time.perf_counter() - started
    path = folder / f"{NAME}.skops"
    save_skops(meta, path)
    test_features = member_features(fitted, x_test, names)
    scores = classification_scores(y_test, meta.predict(test_features))
    metrics = {
        **scores,
        "quality": scores["f1_macro"],
        "n_train": len(y_train),
        "n_test": len(y_test),
        "members": list(MEMBERS),
        "classes": [str(c) for c in meta.classes_],
        "log_odds": log_odds,
        "inner_cv_f1": {
            "probabilities": round(choice[False], 4),
            "log_odds": round(choice[True], 4),
        },
        "train_seconds": round(seconds, 3),
        "latency_ms": median_latency_ms(functools.partial(meta.predict_proba, test_features[:1])),
    }
    save_metrics(folder, NAME, path, metrics)
    return metrics
