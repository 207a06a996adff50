"""Importing a model's ``module:object`` target, looking beside its manifest too."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType


def import_module_near(name: str, manifest: str | Path | None = None) -> ModuleType:
    """Import ``name``; if it is not importable and the folder of ``manifest`` holds it
    (``name.py`` or a package folder), that folder joins the import path first.

    So a manifest next to ``mymodels.py`` can say ``target: "mymodels:upper"`` without
    setting ``PYTHONPATH``. The folder is appended: installed modules keep precedence.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        top = name.partition(".")[0]
        folder = Path(manifest).resolve().parent if manifest else None
        if folder is None or exc.name != top or not _holds(folder, top):
            raise
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
        importlib.invalidate_caches()
        return importlib.import_module(name)


def _holds(folder: Path, module: str) -> bool:
    return (folder / f"{module}.py").is_file() or (folder / module / "__init__.py").is_file()
