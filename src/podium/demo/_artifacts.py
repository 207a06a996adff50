"""Where the demo keeps what it trains, and how it measures it.

Everything lives under ``<home>/demo/``: one model file per trained model
(``NAME.skops`` or ``NAME.onnx``) and beside it ``NAME.metrics.json``, the scores measured
on the scenario's held-out split when the model was trained. A metrics file records the
format version, the scikit-learn version and the SHA-256 of its model file; a model whose
metrics file is missing, stale or does not match its file is trained again. Files are
written atomically and training holds a lock file, so concurrent processes sharing a home
neither see half-written files nor train twice at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

#: Bump when training changes in a way that must invalidate cached models.
FORMAT = 1


def demo_dir(home: Path) -> Path:
    """``<home>/demo``, created if needed."""
    path = Path(home).expanduser().resolve() / "demo"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def training_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/.training.lock`` exclusively (POSIX ``flock``; a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(folder / ".training.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Limit BLAS and OpenMP to one thread in this thread while training and measuring.

    The demo's data sets are small: thread teams cost more than they save, and on a busy
    machine OpenMP's spinning threads slow boosting down by orders of magnitude. It also
    matches how the sklearn adapter predicts (one sample, one thread).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def library_versions() -> dict[str, str]:
    """Versions that decide whether a cached model can still be loaded and trusted."""
    import sklearn

    return {"format": str(FORMAT), "scikit-learn": str(sklearn.__version__)}


def save_skops(model: Any, path: Path) -> None:
    """Save a fitted estimator with skops (never pickle), deflate-compressed."""
    import zipfile

    import skops.io as sio

    write_atomic(path, sio.dumps(model, compression=zipfile.ZIP_DEFLATED))


def metrics_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.metrics.json"


def save_metrics(folder: Path, name: str, artifact: Path | None, metrics: dict[str, Any]) -> None:
    """Store ``metrics`` beside ``artifact`` with the versions and the file's hash."""
    record = {"model": name, **metrics, "versions": library_versions()}
    if artifact is not None:
        record["artifact"] = artifact.name
        record["sha256"] = sha256(artifact)
    write_atomic(metrics_path(folder, name), json.dumps(record, indent=2).encode() + b"\n")


def load_metrics(folder: Path, name: str) -> dict[str, Any] | None:
    """The stored metrics of ``name``, or ``None`` if missing, stale or not matching its file."""
    path = metrics_path(folder, name)
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("versions") != library_versions():
        return None
    artifact = record.get("artifact")
    if artifact is not None:
        target = folder / str(artifact)
        if not target.is_file() or sha256(target) != record.get("sha256"):
            return None
    return record


def all_cached(folder: Path, names: Sequence[str]) -> dict[str, dict[str, Any]] | None:
    """Metrics of every model in ``names`` if all are cached and valid, else ``None``."""
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        record = load_metrics(folder, name)
        if record is None:
            return None
        found[name] = record
    return found


def classification_scores(y_true: Sequence[Any], y_pred: Sequence[Any]) -> dict[str, float]:
    """Held-out ``accuracy`` and macro-averaged ``f1_macro``, rounded to 4 places."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "f1_macro": round(float(f1_score(y_true, y_pred, average="macro")), 4),
    }


def median_latency_ms(predict: Callable[[], object], repeats: int = 21) -> float:
    """Median wall time of one single-sample ``predict()`` call, in ms (after one warm-up)."""
    predict()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict()
        times.append((time.perf_counter() - start) * 1000.0)
    return round(max(statistics.median(times), 0.01), 3)


def train_once(
    home: Path, names: Sequence[str], train: Callable[[Path], object]
) -> dict[str, dict[str, Any]]:
    """The stored metrics of ``names``, calling ``train(folder)`` first if any is missing.

    Another process training the same models at the same time is waited for, not repeated.
    """
    folder = demo_dir(home)
    cached = all_cached(folder, names)
    if cached is not None:
        return cached
    with training_lock(folder):
        cached = all_cached(folder, names)
        if cached is None:
            with single_threaded():
                train(folder)
            cached = all_cached(folder, names)
    if cached is None:
        raise RuntimeError(f"training did not produce {', '.join(names)} in {folder}")
    return cached
