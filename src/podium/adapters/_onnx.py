"""ONNX models run with onnxruntime on the CPU: ``runtime: {kind: onnx, path: m.onnx}``.

Same contract as the sklearn runtime: one sample in, as ``{features: [numbers]}`` or the
fields named by ``runtime.feature_order``. A model with two outputs is a classifier (a
skl2onnx classifier: the label, then the probabilities, as a tensor when converted with
``{"zipmap": False}`` or as a list of maps otherwise) and returns
``{label, confidence, probabilities}``; a model with one output is a regressor and returns
``{value}``. Class labels come from ``runtime.classes``, else from the model's
``classes`` metadata entry (a JSON list), else from the ZipMap keys, else from the
classifier node's ``classlabels_*`` attribute (read with the ``onnx`` package, when it is
installed).
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

from podium._types import JSONObject
from podium.adapters._base import AdapterEnv, CallContext
from podium.adapters._sklearn import classifier_output, feature_row, json_value
from podium.errors import ManifestError, ModelCallError
from podium.registry import ModelSpec, OnnxRuntime

_NUMPY_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64"}


class OnnxAdapter:
    """Calls an ONNX model through an onnxruntime ``InferenceSession`` in the thread pool."""

    def __init__(self, spec: ModelSpec, env: AdapterEnv) -> None:
        runtime = spec.runtime
        assert isinstance(runtime, OnnxRuntime)
        self.spec = spec
        self._runtime = runtime
        self._path = Path(runtime.path).expanduser()
        if not self._path.is_absolute():
            self._path = env.home / self._path
        self._threads = env.threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._input_name = ""
        self._input_dtype = "float32"
        self._n_features: int | None = None
        self._classes: list[Any] | None = None

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                if not self._path.is_file():
                    raise ManifestError(
                        "model file not found", file=str(self._path), field="runtime.path"
                    )
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                try:
                    session = ort.InferenceSession(
                        str(self._path), sess_options=options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:
                    raise ManifestError(
                        f"cannot load ONNX model: {exc}", file=str(self._path), field="runtime.path"
                    ) from None
                first = session.get_inputs()[0]
                self._input_name = first.name
                self._input_dtype = _NUMPY_TYPES.get(first.type, "float32")
                width = first.shape[-1] if first.shape else None
                self._n_features = width if isinstance(width, int) else None
                order = self._runtime.feature_order
                if order and self._n_features is not None and len(order) != self._n_features:
                    raise ManifestError(
                        f"runtime.feature_order names {len(order)} fields; "
                        f"the model takes {self._n_features}",
                        file=self.spec.source,
                        field="runtime.feature_order",
                    )
                self._classes = self._declared_classes(session)
                self._session = session
            return self._session

    def _declared_classes(self, session: Any) -> list[Any] | None:
        if self._runtime.classes is not None:
            return list(self._runtime.classes)
        meta = session.get_modelmeta().custom_metadata_map.get("classes")
        if meta:
            try:
                classes = json.loads(meta)
            except ValueError:
                classes = None
            if isinstance(classes, list):
                return classes
        return _graph_classes(self._path)

    def _predict(self, inputs: JSONObject) -> JSONObject:
        import numpy as np

        session = self._load()
        row = feature_row(self.spec, self._runtime.feature_order, inputs, self._n_features)
        sample = np.asarray([row], dtype=self._input_dtype)
        try:
            outputs = session.run(None, {self._input_name: sample})
        except Exception as exc:
            raise ModelCallError(
                f"the model rejected the input: {exc}", model=self.spec.key, retryable=False
            ) from exc
        if len(outputs) == 1:
            value = np.asarray(outputs[0]).reshape(-1)
            if value.size == 1:
                return {"value": float(value[0])}
            return {"value": [float(v) for v in value]}
        label = outputs[0][0]
        scores = outputs[1]
        if isinstance(scores, list):  # ZipMap output: a list of {class: probability}
            mapping: dict[Any, float] = scores[0]
            classes = self._classes or list(mapping)
            probabilities = [float(mapping[c]) for c in classes]
        else:
            probabilities = [float(p) for p in np.asarray(scores)[0]]
            classes = self._classes or []
            if len(classes) != len(probabilities):
                raise ManifestError(
                    f"{self.spec.key}: cannot tell which class each of the "
                    f"{len(probabilities)} probabilities belongs to; set runtime.classes",
                    file=self.spec.source,
                    field="runtime.classes",
                )
        return classifier_output(classes, probabilities, json_value(label))

    async def call(self, inputs: JSONObject, ctx: CallContext) -> JSONObject:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._threads, self._predict, inputs)
        except (ModelCallError, ManifestError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise ModelCallError(f"{type(exc).__name__}: {exc}", model=self.spec.key) from exc

    async def aclose(self) -> None:
        """Release the session; the thread pool belongs to the environment."""
        self._session = None


def _graph_classes(path: Path) -> list[Any] | None:
    """Class labels from a classifier node's ``classlabels_*`` attribute, if ``onnx`` is here."""
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(path), load_external_data=False)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.name == "classlabels_strings" and attr.strings:
                return [s.decode() for s in attr.strings]
            if attr.name in ("classlabels_int64s", "classlabels_ints") and attr.ints:
                return list(attr.ints)
    return None
