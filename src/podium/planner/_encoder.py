"""all-MiniLM-L6-v2 sentence embeddings through ONNX Runtime, for the planner's matcher.

A request's few short phrases are encoded on every plan, so the per-call overhead of
sentence-transformers and torch matters more than the model: the encoder here runs the
same transformer as an ONNX graph on one thread, with the phrases batched by length so
little is spent on padding, and pools each phrase's token vectors itself (the mean over
its tokens, then unit length, as the model's own pooling does).

The graph is exported from the bundled weights with ``torch.onnx.export`` on first use
(no download) and cached under ``$PODIUM_HOME/cache`` keyed by the weights, so later
processes load it in a fraction of a second without torch. Anything that goes wrong on
the way (no torch to export with, an unwritable home) makes :func:`load` return ``None``
and the matcher falls back to sentence-transformers.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXPORT_VERSION = 1
MAX_TOKENS = 256  # the model's max_seq_length
WIDTH = 384  # the model's embedding size
CALL_COST = 7.0  # one run's fixed cost, in tokens' worth of compute (measured on 2 cores)
_log = logging.getLogger(__name__)
_loaded: dict[Path, OnnxEncoder | None] = {}  # model folder / precision -> encoder
_lock = threading.Lock()


def cache_dir() -> Path:
    """Where exported graphs are kept: ``$PODIUM_HOME/cache`` (default ``./.podium``)."""
    return Path(os.environ.get("PODIUM_HOME") or ".podium").expanduser() / "cache"


def graph_path(model_dir: Path, directory: Path) -> Path:
    """The exported graph's file for the weights in ``model_dir`` (keyed by their config,
    size and modification time, so new weights get a new export)."""
    digest = hashlib.sha256(f"v{EXPORT_VERSION}".encode())
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        path = model_dir / name
        if path.exists():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update((model_dir / "config.json").read_bytes())
    return directory / f"minilm-{digest.hexdigest()[:16]}.onnx"


def export(model_dir: Path, path: Path) -> None:
    """Export the transformer in ``model_dir`` to an ONNX graph at ``path`` (atomically:
    a partial file never takes the final name)."""
    with warnings.catch_warnings():  # the tracer's notes are for model authors, not users
        warnings.simplefilter("ignore")
        _export(model_dir, path)


def _export(model_dir: Path, path: Path) -> None:
    torch = importlib.import_module("torch")
    transformers = importlib.import_module("transformers")
    importlib.import_module("transformers.utils.logging").disable_progress_bar()
    model = transformers.AutoModel.from_pretrained(str(model_dir), local_files_only=True)
    model.eval()

    class Hidden(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "hidden"]}
    sample = torch.ones(2, 8, dtype=torch.long)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(
                Hidden(),
                (sample, sample, torch.zeros_like(sample)),
                tmp,
                input_names=names,
                output_names=["hidden"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def quantize(path: Path, target: Path) -> None:
    """An int8 copy of the graph at ``path`` (dynamic quantisation of its weights)."""
    quantization = importlib.import_module("onnxruntime.quantization")
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantization.quantize_dynamic(str(path), tmp, weight_type=quantization.QuantType.QInt8)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(
    model_dir: Path, directory: Path | None = None, *, int8: bool = False
) -> OnnxEncoder | None:
    """The encoder for ``model_dir``, exported first if needed (``int8``: its weights
    quantised to 8 bits); ``None`` when it cannot be had here (the caller uses
    sentence-transformers instead). Loaded once per process."""
    key = model_dir / ("int8" if int8 else "fp32")
    with _lock:
        if key in _loaded:
            return _loaded[key]
        found: OnnxEncoder | None = None
        try:
            path = graph_path(model_dir, directory or cache_dir())
            if not path.exists():
                export(model_dir, path)
            if int8:
                small = path.with_name(path.stem + "-int8.onnx")
                if not small.exists():
                    quantize(path, small)
                path = small
            found = OnnxEncoder(model_dir, path)
        except Exception as exc:  # no torch, a read-only home, an odd model: fall back
            _log.info("planner encoder: ONNX unavailable (%s); using sentence-transformers", exc)
        _loaded[key] = found
        return found


class OnnxEncoder:
    """The exported MiniLM on one ONNX Runtime thread, with its own fast tokenizer."""

    def __init__(self, model_dir: Path, path: Path) -> None:
        ort = importlib.import_module("onnxruntime")
        tokenizers = importlib.import_module("tokenizers")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.path = path

    def encode(self, texts: Sequence[str]) -> Any:
        """Unit vectors for ``texts`` (a numpy array, one row per text)."""
        import numpy as np

        vectors = np.zeros((len(texts), WIDTH), dtype=np.float32)
        if not texts:
            return vectors
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for batch in _batches([len(encodings[i].ids) for i in order]):
            rows = [order[k] for k in batch]
            longest = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), longest), dtype=np.int64)
            mask = np.zeros((len(rows), longest), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            hidden = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": ids * 0}
            )[0]
            for r, i in enumerate(rows):
                vectors[i] = hidden[r, : len(encodings[i].ids)].mean(axis=0)
        return _unit(vectors)


def _unit(vectors: Any) -> Any:
    import numpy as np

    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def _batches(lengths: Sequence[int]) -> list[list[int]]:
    """Split sorted ``lengths`` into runs so that padding plus the cost of each run
    (``CALL_COST`` tokens) is least: each run is padded to its longest text."""
    n = len(lengths)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(end):
            cost = best[start] + CALL_COST + (end - start) * lengths[end - 1]
            if cost < best[end]:
                best[end], cut[end] = cost, start
    runs: list[list[int]] = []
    end = n
    while end:
        runs.append(list(range(cut[end], end)))
        end = cut[end]
    return runs[::-1]
