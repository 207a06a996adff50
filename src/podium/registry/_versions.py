"""Semantic versions and ``NAME@SPEC`` references (``^1.2``, ``>=1,<2``, ``1.2.0``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import semantic_version
from semantic_version import Version

from podium.errors import ManifestError, ModelNotFoundError

__all__ = ["ModelRef", "Version", "VersionSpec", "parse_version"]


@lru_cache(maxsize=4096)
def parse_version(text: str) -> Version:
    """A semantic version; partial forms like ``1.2`` are completed to ``1.2.0``."""
    try:
        version: Version = (
            Version.coerce(str(text)) if str(text).count(".") < 2 else Version(str(text))
        )
        return version
    except ValueError:
        raise ManifestError(f"'{text}' is not a semantic version (e.g. 1.2.0)") from None


@dataclass(frozen=True)
class VersionSpec:
    """A version range as written after ``@`` in a model reference."""

    text: str

    def __post_init__(self) -> None:
        _compiled(self.text)

    def select(self, versions: Iterable[Version]) -> Version | None:
        """The highest version in ``versions`` that satisfies this range, if any."""
        chosen: Version | None = _compiled(self.text).select(versions)
        return chosen

    def __contains__(self, version: Version) -> bool:
        return version in _compiled(self.text)


@lru_cache(maxsize=4096)
def _compiled(text: str) -> semantic_version.SimpleSpec:
    try:
        return semantic_version.SimpleSpec(text or "*")
    except ValueError:
        raise ModelNotFoundError(
            f"'{text}' is not a version range (try ^1.2, >=1,<2 or 1.2.0)"
        ) from None


@dataclass(frozen=True)
class ModelRef:
    """``model/NAME@SPEC`` (``kind='model'``) or ``capability/NAME`` (``kind='capability'``)."""

    kind: str
    name: str
    spec: VersionSpec | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse ``model/NAME[@SPEC]``, ``capability/NAME`` or a bare ``NAME[@SPEC]``."""
        raw = str(text).strip()
        kind, sep, rest = raw.partition("/")
        if not sep:
            kind, rest = "model", raw
        if kind not in ("model", "capability") or not rest:
            raise ModelNotFoundError(
                f"'{raw}' is not a model reference; use model/NAME[@VERSION] or capability/NAME"
            )
        name, at, spec = rest.partition("@")
        if kind == "capability" and at:
            raise ModelNotFoundError(f"'{raw}': a capability reference takes no version")
        return cls(kind, name, VersionSpec(spec) if at else None)

    def __str__(self) -> str:
        spec = f"@{self.spec.text}" if self.spec else ""
        return f"{self.kind}/{self.name}{spec}"
