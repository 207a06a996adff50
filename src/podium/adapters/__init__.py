"""How models are called: one small module per runtime kind behind :class:`Adapter`."""

from podium._placement import LOCAL, Placement
from podium.adapters._base import Adapter, AdapterEnv, CallContext
from podium.adapters._pool import ADAPTER_KINDS, AdapterPool, register_adapter_kind

__all__ = [
    "ADAPTER_KINDS",
    "LOCAL",
    "Adapter",
    "AdapterEnv",
    "AdapterPool",
    "CallContext",
    "Placement",
    "register_adapter_kind",
]
