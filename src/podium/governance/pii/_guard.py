"""The PII guard: an interceptor that masks a call's inputs before they reach a model not
trusted with personal data, and can put the originals back in its answer."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from podium._types import JSONObject
from podium.governance.pii._detect import PiiDetector
from podium.governance.pii._kinds import PiiKind
from podium.governance.pii._mask import Masker

if TYPE_CHECKING:
    from podium.engine import ModelCall, Proceed
    from podium.registry import ModelSpec

#: A model with one of these tags receives personal data as it is.
DEFAULT_ALLOW_TAGS: frozenset[str] = frozenset({"pii-safe"})
_INSTANCE = re.compile(r"\[\d+\]|#\d+")


@dataclass(frozen=True, slots=True)
class PiiGuardConfig:
    """How the guard behaves.

    ``allow_tags``: a model with any of these tags gets the inputs unmasked (by default
    ``pii-safe``, the tag the manifest reference uses). ``restore``: put the originals
    back in every masked call's answer; ``restore_steps``: only in these steps' answers
    (a step id, or a nested path such as ``refine/draft``; map items and loop
    iterations count as their step).
    """

    allow_tags: frozenset[str] = DEFAULT_ALLOW_TAGS
    restore: bool = False
    restore_steps: frozenset[str] = frozenset()


@dataclass(slots=True)
class GuardStats:
    """What the guard did since it was made: calls masked and values masked per kind."""

    calls_seen: int = 0
    calls_masked: int = 0
    values_masked: dict[PiiKind, int] = dataclasses.field(default_factory=dict)


class PiiGuard:
    """An :class:`~podium.engine.Interceptor`: ``orch.add_interceptor(PiiGuard())``.

    For a model without an allowing tag, the call's inputs are masked (``<EMAIL_1>``,
    ``<CARD_1>``, ...) and the model is called with the masked inputs; where the config
    asks, the placeholders in the answer are replaced by the originals. A cache hit
    passes through the same way (the answer was made from the same masked inputs).
    """

    def __init__(
        self, config: PiiGuardConfig | None = None, detector: PiiDetector | None = None
    ) -> None:
        self.config = config or PiiGuardConfig()
        self.masker = Masker(detector)
        self.stats = GuardStats()

    def allows(self, spec: ModelSpec) -> bool:
        """Whether ``spec`` may receive personal data as it is."""
        return not self.config.allow_tags.isdisjoint(spec.tags)

    def restores(self, step: str | None) -> bool:
        """Whether answers in ``step`` (a step key as the engine names it) get the
        originals back."""
        config = self.config
        if config.restore:
            return True
        if not config.restore_steps or not step:
            return False
        path = _INSTANCE.sub("", step)
        return path in config.restore_steps or path.rsplit("/", 1)[-1] in config.restore_steps

    async def __call__(self, call: ModelCall, proceed: Proceed) -> JSONObject:
        stats = self.stats
        stats.calls_seen += 1
        if self.allows(call.spec):
            return await proceed(call)
        masked = self.masker.mask(call.inputs)
        if not masked.masked:
            return await proceed(call)
        stats.calls_masked += 1
        for kind, count in masked.counts.items():
            stats.values_masked[kind] = stats.values_masked.get(kind, 0) + count
        output = await proceed(dataclasses.replace(call, inputs=masked.value))
        if self.restores(call.context.step):
            restored: JSONObject = masked.restore(output)
            return restored
        return output
