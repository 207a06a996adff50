"""The shipped demo models, trained on first use and described as :class:`ModelSpec`.

:func:`demo_models` trains whatever is missing under ``<home>/demo/`` (about ten seconds
the first time on two cores; instant afterwards) and returns one spec per model. Every
``quality`` prior is the score measured on the scenario's held-out split, never a guess:
macro-averaged F1 for classifiers and micro-averaged F1 for entity extraction; the
accuracy and the other numbers are in ``<home>/demo/NAME.metrics.json``. ``crm-lookup``
and ``reply-drafter`` have no held-out measure and declare no quality.

``latency_ms`` of a trained model is the median time of one single-sample prediction,
measured right after training on this machine (the adapter's thread hop comes on top).

``cost.per_call`` is in the same notional currency units as every manifest. The demo
prices compute by model size and kind, so that routing policies have a real trade-off:

==========================  =========  ======================================================
model                       per call   why
==========================  =========  ======================================================
keyword-intent, entities    0.00001    a few regexes
dx-size-onnx                0.00001    a 9-feature linear model on onnxruntime
dx-stacker                  0.00001    a linear model over 8 member probabilities
dx-size, dx-texture         0.00002    small linear / naive Bayes model on 9 features
dx-shape                    0.00003    one depth-4 tree
vader-sentiment             0.00005    lexicon lookup per token
support-tone                0.00006    the VADER lookup plus a few complaint-cue regexes
risk-logistic               0.00005    linear model, 8 features
crm-lookup                  0.0001     one indexed SQLite query
intent-classifier           0.0002     TF-IDF over words and character n-grams + linear model
dx-full                     0.0004     150 boosted trees on all 30 features
risk-gbm                    0.0005     150 boosting iterations of 15-leaf trees
reply-drafter               0.001      template; an LLM call costs what its server charges
risk-forest-large           0.005      200 deep trees (a 3 MB compressed file)
==========================  =========  ======================================================

:func:`held_out` gives each scenario's held-out cases so workflows can be scored on them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podium.demo import diagnostics, risk, support
from podium.demo._artifacts import demo_dir, load_metrics, save_metrics, sha256
from podium.errors import UserError
from podium.registry import (
    Cost,
    ModelSpec,
    OnnxRuntime,
    SklearnRuntime,
    load_manifests,
)

SCENARIOS = ("diagnostics", "support", "risk")
VERSION = "1.0.0"
MANIFESTS = Path(__file__).resolve().parent / "manifests"

#: Cost per call of each trained model (see the table in the module docstring).
COSTS: dict[str, float] = {
    "dx-size": 0.00002,
    "dx-texture": 0.00002,
    "dx-shape": 0.00003,
    "dx-full": 0.0004,
    "dx-size-onnx": 0.00001,
    "dx-stacker": 0.00001,
    "intent-classifier": 0.0002,
    "risk-logistic": 0.00005,
    "risk-gbm": 0.0005,
    "risk-forest-large": 0.005,
}

_CLASSIFIER_OUTPUT = {"label": "string", "confidence": "number", "probabilities": "object"}

_DESCRIPTIONS = {
    "dx-size": "Breast-tumour malignancy from size measurements (radius, perimeter, area); "
    "logistic regression.",
    "dx-texture": "Breast-tumour malignancy from texture, smoothness and symmetry; "
    "Gaussian naive Bayes.",
    "dx-shape": "Breast-tumour malignancy from compactness, concavity, concave points and "
    "fractal dimension; a depth-4 decision tree.",
    "dx-full": "Breast-tumour malignancy from all 30 measurements; gradient boosting.",
    "dx-size-onnx": "dx-size converted to ONNX and run with onnxruntime.",
    "dx-stacker": "Combines dx-size, dx-texture, dx-shape and dx-full: logistic regression "
    "over their out-of-fold class probabilities (combine: stacking).",
    "intent-classifier": "Classifies a customer message as billing, technical, cancellation, "
    "shipping or account; TF-IDF + logistic regression.",
    "risk-logistic": "Card-transaction fraud risk; logistic regression (cheap, linear).",
    "risk-gbm": "Card-transaction fraud risk; histogram gradient boosting.",
    "risk-forest-large": "Card-transaction fraud risk; a large random forest (expensive).",
}


def _scored(name: str, metrics: dict[str, Any]) -> str:
    parts = [f"{k} {metrics[k]:.3f}" for k in ("accuracy", "f1_macro", "f1_micro") if k in metrics]
    return f"{_DESCRIPTIONS.get(name, '')} Held-out {', '.join(parts)}.".strip()


def _trained_spec(
    name: str,
    metrics: dict[str, Any],
    folder: Path,
    *,
    capability: str,
    inputs: dict[str, str],
    consumes: list[str],
    produces: list[str],
    tags: list[str],
    feature_order: list[str] | None = None,
) -> ModelSpec:
    path = str(folder / str(metrics["artifact"]))
    runtime: SklearnRuntime | OnnxRuntime
    if path.endswith(".onnx"):
        runtime = OnnxRuntime(path=path, feature_order=feature_order, classes=metrics["classes"])
    else:
        runtime = SklearnRuntime(path=path, feature_order=feature_order)
    return ModelSpec(
        name=name,
        version=VERSION,
        description=_scored(name, metrics),
        capabilities=[capability],
        input=inputs,
        output=dict(_CLASSIFIER_OUTPUT),
        runtime=runtime,
        cost=Cost(per_call=COSTS[name]),
        latency_ms=float(metrics["latency_ms"]),
        quality={capability: float(metrics["quality"])},
        consumes=consumes,
        produces=produces,
        tags=tags,
    )


def _diagnostics_specs(home: Path) -> list[ModelSpec]:
    metrics = diagnostics.ensure_trained(home)
    folder = demo_dir(home)
    names = diagnostics.feature_names()
    specs = []
    for model in diagnostics.MODELS:
        if model == diagnostics.STACKER:
            specs.append(
                _trained_spec(
                    model,
                    metrics[model],
                    folder,
                    capability="diagnosis.stacking",
                    inputs={"features": "array"},
                    consumes=["member_probabilities"],
                    produces=["diagnosis"],
                    tags=["demo", "diagnostics", "stacker"],
                )
            )
            continue
        used = diagnostics.features_of(model)
        inputs = {n: "number" if n in used else "number?" for n in names}
        kind = "onnx" if model == diagnostics.ONNX_MODEL else "sklearn"
        specs.append(
            _trained_spec(
                model,
                metrics[model],
                folder,
                capability="diagnosis.malignancy",
                inputs=inputs,
                consumes=["tumour_measurements"],
                produces=["diagnosis"],
                tags=["demo", "diagnostics", kind],
                feature_order=used,
            )
        )
    return specs


def _support_specs(home: Path) -> list[ModelSpec]:
    metrics = support.ensure_trained(home)[support.MODEL]
    return [
        _trained_spec(
            support.MODEL,
            metrics,
            demo_dir(home),
            capability="text.intent",
            inputs={"text": "string"},
            consumes=["text"],
            produces=["intent"],
            tags=["demo", "support", "sklearn", "pii-safe"],
        )
    ]


def _risk_specs(home: Path) -> list[ModelSpec]:
    metrics = risk.ensure_trained(home)
    folder = demo_dir(home)
    from podium.demo.risk_data import FEATURES

    return [
        _trained_spec(
            model,
            metrics[model],
            folder,
            capability="risk.score",
            inputs=dict.fromkeys(FEATURES, "number"),
            consumes=["transaction"],
            produces=["fraud_risk"],
            tags=["demo", "risk", "sklearn"],
            feature_order=list(FEATURES),
        )
        for model in risk.MODELS
    ]


def _rule_measures() -> dict[str, tuple[str, str, Callable[[], dict[str, float]]]]:
    """Rule-based models: name -> (capability, quality metric, measuring function)."""
    from podium.demo.entities import entity_scores
    from podium.demo.sentiment import sentiment_scores
    from podium.demo.tone import tone_scores

    return {
        "keyword-intent": ("text.intent", "f1_macro", support.keyword_intent_scores),
        "entity-extractor": ("text.entities", "f1_micro", entity_scores),
        "vader-sentiment": ("text.sentiment", "f1_macro", sentiment_scores),
        "support-tone": ("text.sentiment", "f1_macro", tone_scores),
    }


def _code_digest(measure: Callable[[], dict[str, float]]) -> str:
    """The SHA-256 of the module that holds a rule model and its measure: new rules,
    new measurement."""
    source = inspect.getsourcefile(measure)
    return sha256(Path(source)) if source else ""


def measured_quality(home: Path) -> dict[str, dict[str, float]]:
    """Held-out quality of the rule-based models (cached in ``NAME.metrics.json`` until
    their code changes)."""
    folder = demo_dir(home)
    found: dict[str, dict[str, float]] = {}
    for name, (capability, metric, measure) in _rule_measures().items():
        digest = _code_digest(measure)
        record = load_metrics(folder, name)
        if record is None or record.get("code_sha256") != digest:
            scores = measure()
            record = {**scores, "quality": scores[metric], "code_sha256": digest}
            save_metrics(folder, name, None, record)
        found[name] = {capability: float(record["quality"])}
    return found


def _python_specs(home: Path) -> list[ModelSpec]:
    from podium.demo.crm import ensure_crm

    ensure_crm(home)
    quality = measured_quality(home)
    specs = []
    for manifest in load_manifests(MANIFESTS):
        if manifest.name in quality:
            manifest = manifest.model_copy(update={"quality": quality[manifest.name]})  # noqa: PLW2901
        specs.append(manifest)
    return specs


def demo_models(home: Path) -> list[ModelSpec]:
    """Every shipped demo model, training what ``<home>/demo/`` does not yet hold."""
    home = Path(home)
    return [
        *_diagnostics_specs(home),
        *_support_specs(home),
        *_risk_specs(home),
        *_python_specs(home),
    ]


def held_out(home: Path, scenario: str) -> list[dict[str, Any]]:
    """The held-out cases of ``scenario`` (``diagnostics``, ``support`` or ``risk``).

    Returns a list of ``{"inputs": {...}, "expected": {...}}`` dicts, one per case, in a
    fixed order; ``inputs`` is ready to pass as a workflow's inputs:

    * ``diagnostics``: ``inputs`` holds all 30 measurements by field name
      (``mean_radius``, ...); ``expected`` is ``{"label": "malignant" | "benign"}``.
    * ``support``: ``inputs`` is ``{"message", "customer_id"}``; ``expected`` is
      ``{"intent", "sentiment", "entities": {order_ids, amounts, dates, emails}}``.
    * ``risk``: ``inputs`` holds the 8 transaction features by name (``amount``, ...);
      ``expected`` is ``{"label": "fraud" | "legit"}``.

    The data does not depend on ``home`` (it is regenerated from fixed seeds and the
    shipped CSV); ``home`` is taken so callers pass the same place as to
    :func:`demo_models`.
    """
    del home
    cases: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "diagnostics": diagnostics.held_out_cases,
        "support": support.held_out_cases,
        "risk": risk.held_out_cases,
    }
    if scenario not in cases:
        raise UserError(f"unknown demo scenario '{scenario}'; expected one of {SCENARIOS}")
    return cases[scenario]()
