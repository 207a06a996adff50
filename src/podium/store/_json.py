"""Compact JSON for stored values, encoded the cheapest way (it is on every run's hot path)."""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii
from typing import Any

_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)
_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)  # None without the C module


def dumps(value: Any) -> str:
    """``value`` as compact JSON; values JSON cannot hold are stored as their text."""
    if _MAKE_ENCODER is None:
        return _ENCODER.encode(value)
    # What ``_ENCODER.encode`` does, less its Python layers (half the cost of a small event).
    # The encoder is made per call: its circular-reference markers must start empty.
    encode = _MAKE_ENCODER({}, str, encode_basestring_ascii, None, ":", ",", False, False, True)
    return "".join(encode(value, 0))
