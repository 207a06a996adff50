"""scikit-learn estimators saved with skops: ``runtime: {kind: sklearn, path: m.skops}``.

The file is loaded with ``skops.io`` (never pickle or joblib) and only if every type it
holds that skops does not trust by default is on our allow-list: scikit-learn, NumPy and
SciPy types (``sklearn.``, ``numpy.``, ``scipy.`` prefixes) plus the names the manifest
lists in ``runtime.trusted`` (an entry ending in ``.`` or ``.*`` trusts that prefix). Any
other type is a :class:`ManifestError` naming the file and the type.

Inputs are one sample: ``{features: [numbers]}``, or the fields named by
``runtime.feature_order``, or ``{text: string}`` for a text pipeline (one that starts with
a vectoriser, such as TF-IDF, and so takes raw strings). Classifiers return
``{label, confidence, probabilities}`` with ``probabilities`` keyed by class; regressors
return ``{value}``. Loading and prediction run in the shared thread pool; a prediction
limits OpenMP to one thread in its worker (for one sample, a thread team costs more than
it saves, and on a busy machine spinning OpenMP threads slow boosting by 10-30x).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from podium._types import JSON, JSONObject
from podium.adapters._base import AdapterEnv, CallContext
from podium.errors import ManifestError, ModelCallError
from podium.registry import ModelSpec, SklearnRuntime
from podium.registry._checks import first_untrusted, skops_types


def trusted_types(path: Path, extra: Sequence[str] = ()) -> list[str]:
    """The untrusted types in the skops file at ``path``, if every one is on the allow-list.

    The allow-list (the registry's ``TRUSTED_PREFIXES`` plus ``extra``) is shared, so what
    registration accepts is what this adapter loads. Raises :class:`ManifestError` naming
    the file and the first type that is not on it.
    """
    reported = skops_types(path)
    untrusted = first_untrusted(reported, extra)
    if untrusted is not None:
        raise ManifestError(
            f"refusing to load untrusted type '{untrusted}'; add it to runtime.trusted only if "
            "you trust the file's author",
            file=str(path),
            field="runtime.trusted",
        )
    return reported


def json_value(value: Any) -> JSON:
    """A NumPy scalar or string as a plain JSON value (int, float, bool or str)."""
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def feature_row(
    spec: ModelSpec,
    feature_order: Sequence[str] | None,
    inputs: JSONObject,
    expected: int | None,
) -> list[float]:
    """One sample's features in model order, from ``feature_order`` fields or ``features``.

    A missing field, a non-number or a wrong count is a non-retryable
    :class:`ModelCallError` naming the model and the field.
    """
    if feature_order:
        values: list[Any] = []
        for name in feature_order:
            if name not in inputs:
                raise ModelCallError(
                    f"input field '{name}' is missing", model=spec.key, retryable=False
                )
            values.append(_number(spec, name, inputs[name]))
        return values
    raw = inputs.get("features")
    if not isinstance(raw, list | tuple):
        raise ModelCallError(
            "input field 'features' (an array of numbers) is missing",
            model=spec.key,
            retryable=False,
        )
    row = [_number(spec, f"features[{i}]", v) for i, v in enumerate(raw)]
    if expected is not None and len(row) != expected:
        raise ModelCallError(
            f"input field 'features' has {len(row)} values; the model takes {expected}",
            model=spec.key,
            retryable=False,
        )
    return row


def _number(spec: ModelSpec, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelCallError(
            f"input field '{name}' must be a number, got {type(value).__name__}",
            model=spec.key,
            retryable=False,
        )
    number = float(value)
    if not math.isfinite(number):
        raise ModelCallError(
            f"input field '{name}' must be finite, got {value}", model=spec.key, retryable=False
        )
    return number


def classifier_output(
    classes: Sequence[Any], probabilities: Sequence[float], label: Any
) -> JSONObject:
    """``{label, confidence, probabilities}`` with JSON-friendly labels and class keys."""
    label_value = json_value(label)
    probs = {str(json_value(c)): float(p) for c, p in zip(classes, probabilities, strict=True)}
    confidence = probs.get(str(label_value), max(probs.values(), default=1.0))
    return {"label": label_value, "confidence": confidence, "probabilities": probs}


class SklearnAdapter:
    """Calls a skops-saved scikit-learn estimator or pipeline in the thread pool."""

    def __init__(self, spec: ModelSpec, env: AdapterEnv) -> None:
        runtime = spec.runtime
        assert isinstance(runtime, SklearnRuntime)
        self.spec = spec
        self._runtime = runtime
        self._path = Path(runtime.path).expanduser()
        if not self._path.is_absolute():
            self._path = env.home / self._path
        self._threads = env.threads
        self._lock = threading.Lock()
        self._model: Any = None
        self._openmp: Any = None

    def _load(self) -> Any:
        """Load the estimator once (thread-safe); later calls return the same object."""
        with self._lock:
            if self._model is None:
                import skops.io as sio

                trusted = trusted_types(self._path, self._runtime.trusted)
                try:
                    model = sio.load(self._path, trusted=trusted)
                except Exception as exc:
                    raise ManifestError(
                        f"cannot load skops file: {exc}", file=str(self._path), field="runtime.path"
                    ) from None
                if not hasattr(model, "predict"):
                    raise ManifestError(
                        f"holds a {type(model).__name__}, which has no predict method",
                        file=str(self._path),
                    )
                order = self._runtime.feature_order
                n_in = getattr(model, "n_features_in_", None)
                if order and isinstance(n_in, int) and len(order) != n_in:
                    raise ManifestError(
                        f"runtime.feature_order names {len(order)} fields; the model takes {n_in}",
                        file=self.spec.source,
                        field="runtime.feature_order",
                    )
                from threadpoolctl import ThreadpoolController

                self._openmp = ThreadpoolController().select(user_api="openmp")
                self._model = model
            return self._model

    @contextlib.contextmanager
    def _one_thread(self) -> Iterator[None]:
        if self._openmp is None or not self._openmp.lib_controllers:
            yield
            return
        with self._openmp.limit(limits=1):
            yield

    def _predict(self, inputs: JSONObject) -> JSONObject:
        model = self._load()
        sample: Any
        text = inputs.get("text")
        if not self._runtime.feature_order and "features" not in inputs and isinstance(text, str):
            sample = [text]
        else:
            import numpy as np

            n_in = getattr(model, "n_features_in_", None)
            row = feature_row(
                self.spec,
                self._runtime.feature_order,
                inputs,
                n_in if isinstance(n_in, int) else None,
            )
            sample = np.asarray([row], dtype=np.float64)
        try:
            with self._one_thread():
                return self._run(model, sample)
        except ValueError as exc:
            raise ModelCallError(
                f"the model rejected the input: {exc}", model=self.spec.key, retryable=False
            ) from exc

    @staticmethod
    def _run(model: Any, sample: Any) -> JSONObject:
        classes = getattr(model, "classes_", None)
        if classes is None:
            prediction = model.predict(sample)[0]
            if getattr(prediction, "ndim", 0):
                return {"value": [float(v) for v in prediction]}
            return {"value": float(prediction)}
        if hasattr(model, "predict_proba"):
            probabilities = model.predict_proba(sample)[0]
            label = classes[int(probabilities.argmax())]
        else:
            label = model.predict(sample)[0]
            probabilities = [1.0 if c == label else 0.0 for c in classes]
        return classifier_output(list(classes), list(probabilities), label)

    async def call(self, inputs: JSONObject, ctx: CallContext) -> JSONObject:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._threads, self._predict, inputs)
        except (ModelCallError, ManifestError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise ModelCallError(f"{type(exc).__name__}: {exc}", model=self.spec.key) from exc

    async def aclose(self) -> None:
        """Drop the loaded estimator; the thread pool belongs to the environment."""
        self._model = None
