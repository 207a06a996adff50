"""Checking, exporting and anchoring the audit log (the records themselves are written by
the store, in the transaction of what they describe: :mod:`podium.store._audit`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime

from podium.errors import UserError
from podium.store import Store, Verdict, verify_chain
from podium.store._audit import GENESIS, parse_anchor

_SPAN_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def verify(store: Store, anchor: str | None = None) -> Verdict:
    """Check every record's hash and link, in order (see :func:`verify_chain`); with
    ``anchor`` (printed earlier by :func:`anchor`), also that the log still holds it."""
    if anchor is not None:
        try:
            parse_anchor(anchor)
        except ValueError as exc:
            raise UserError(str(exc), field="--anchor") from None
    return verify_chain(store.audit_records(), anchor)


def anchor(store: Store) -> str:
    """The head of the log as ``SEQ:HASH``: keep it elsewhere; ``verify --anchor`` proves
    later that nothing up to it changed and that it was not cut back."""
    head = store.audit_head()
    return f"{head[0]}:{head[1]}" if head else f"0:{GENESIS}"


def export(
    store: Store,
    write: Callable[[str], object],
    *,
    since: float | None = None,
    tenant: str | None = None,
) -> int:
    """Write the records (at or after ``since``, of ``tenant``) as JSON Lines; the count."""
    count = 0
    for record in store.audit_records(since=since, tenant=tenant):
        write(json.dumps(record.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


def parse_since(text: str, *, field: str = "--since", now: float | None = None) -> float:
    """A moment: ``7d``/``12h``/``30m`` ago, seconds since the epoch, or an ISO date/time."""
    raw = text.strip().lower()
    moment = time.time() if now is None else now
    if raw[:-1].isdigit() and raw[-1:] in _SPAN_S:
        return moment - int(raw[:-1]) * _SPAN_S[raw[-1]]
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise UserError(
            f"'{text}' is not a time: use 7d, 12h, 30m, seconds since 1970, or an ISO date",
            field=field,
        ) from None
