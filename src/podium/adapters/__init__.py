"""How models are called: one small module per runtime kind behind :class:`Adapter`."""

from podium.adapters._base import Adapter, AdapterEnv, CallContext
from podium.adapters._pool import ADAPTER_KINDS, AdapterPool, register_adapter_kind

__all__ = [
    "ADAPTER_KINDS",
    "Adapter",
    "AdapterEnv",
    "AdapterPool",
    "CallContext",
    "register_adapter_kind",
]
