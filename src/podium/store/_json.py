"""Compact JSON for stored values, with one reusable encoder (it is on every run's hot path)."""

from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def dumps(value: Any) -> str:
    """``value`` as compact JSON; values JSON cannot hold are stored as their text."""
    return _ENCODER.encode(value)
