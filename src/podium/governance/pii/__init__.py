"""The PII guard: find and mask personal data before it reaches a model not trusted with
it, and put it back in the answer where the workflow asks.

::

    from podium.governance.pii import PiiGuard, PiiGuardConfig
    orch.add_interceptor(PiiGuard(PiiGuardConfig(restore=True)))

What it finds (e-mail addresses, phone numbers, card numbers, IBANs, national
identifiers of thirteen schemes), how each is confirmed, and how well (precision and
recall on a labelled set): ``docs/pii.md``. A policy reads :meth:`PiiDetector.kinds_in`
to class a call's inputs as ``pii``.
"""

from podium.governance.pii._detect import PiiDetector
from podium.governance.pii._guard import DEFAULT_ALLOW_TAGS, GuardStats, PiiGuard, PiiGuardConfig
from podium.governance.pii._kinds import (
    ALL_KINDS,
    DEFAULT_REGIONS,
    DEFAULT_SCHEMES,
    DetectorConfig,
    Finding,
    PiiKind,
)
from podium.governance.pii._mask import Masked, Masker, restore

__all__ = [
    "ALL_KINDS",
    "DEFAULT_ALLOW_TAGS",
    "DEFAULT_REGIONS",
    "DEFAULT_SCHEMES",
    "DetectorConfig",
    "Finding",
    "GuardStats",
    "Masked",
    "Masker",
    "PiiDetector",
    "PiiGuard",
    "PiiGuardConfig",
    "PiiKind",
    "restore",
]
