"""The audit log's records and their hash chain (pure: no I/O).

Every record holds the hash of the one before it. A record's hash is SHA-256 over

    prev + "\\n" + header + "\\n" + data

where ``prev`` is the previous record's hash (64 hex digits; :data:`GENESIS` for the first),
``header`` the compact JSON array ``[seq, ts, kind, principal, tenant, workflow, run_id,
subject, cost]`` and ``data`` the record's details as canonical JSON, stored exactly as
hashed: orjson's output with sorted keys (compact, UTF-8, floats in their shortest
round-trip form such as ``1e-7``, as RFC 8785 writes them). Changing, removing, inserting
or reordering a record breaks the chain at that record, and :func:`verify_chain` names it.
(RFC 8785 itself was not used: its Python implementation is pure Python, ten times slower,
and this runs on every model call; the form above is as deterministic for what records hold.)
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Column, Float, Integer, String, Table, Text

from podium._types import JSONObject
from podium.store._tables import metadata

GENESIS = "0" * 64

audit_table = Table(
    "podium_audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", Float, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("principal", String(200)),
    Column("tenant", String(64)),
    Column("workflow", String(200)),
    Column("run_id", String(64)),
    Column("subject", String(400)),
    Column("cost", Float),
    Column("data", Text, nullable=False),
    Column("prev", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
budgets_table = Table(
    "podium_budgets",
    metadata,
    # "<rule>|<scope>": e.g. "acme-daily|tenant:acme:2026-05-01"
    Column("key", String(400), primary_key=True),
    Column("spent", Float, nullable=False),
    Column("reserved", Float, nullable=False),
    Column("calls", Integer, nullable=False),
    Column("reserved_calls", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

_SORTED = orjson.OPT_SORT_KEYS
_sha256 = hashlib.sha256
_FALLBACK = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _encode(value: Any, option: int | None = _SORTED) -> bytes:
    try:
        return orjson.dumps(value, default=str, option=option)
    except orjson.JSONEncodeError:  # an integer past 64 bits, a key that is not a string
        return _FALLBACK.encode(value).encode()


def canonical(value: Any) -> str:
    """``value`` as canonical JSON: keys sorted, compact, UTF-8, floats in their shortest
    round-trip form (``1e-7``), anything else as its text."""
    return _encode(value).decode()


def digest(value: Any) -> str:
    """SHA-256 (hex) of ``value``'s canonical JSON: how inputs and outputs are named."""
    return _sha256(_encode(value)).hexdigest()


class AuditNote(NamedTuple):
    """What happened, before it is numbered and chained.

    ``kind`` is dotted (``run.started``, ``model.call``, ``key.created``); ``data`` the
    details (read-only once given); ``subject`` what it is about (a model ``name@version``,
    a step, a key id); ``cost`` set for model calls. (A named tuple: one is made per model
    call, and tuples are the cheapest immutable record.)
    """

    kind: str
    ts: float
    data: JSONObject
    subject: str | None = None
    principal: str | None = None
    tenant: str | None = None
    workflow: str | None = None
    run_id: str | None = None
    cost: float | None = None


class AuditRecord(NamedTuple):
    """One stored record of the audit log (``data`` is the canonical JSON text)."""

    seq: int
    ts: float
    kind: str
    principal: str | None
    tenant: str | None
    workflow: str | None
    run_id: str | None
    subject: str | None
    cost: float | None
    data: str
    prev: str
    hash: str

    def to_json(self) -> JSONObject:
        """The record as one JSON object (``data`` parsed)."""
        out = self._asdict()
        out["data"] = json.loads(self.data)
        return out

    def expected_hash(self, seq: int | None = None) -> str:
        """The hash this record's contents give (with ``seq`` in place of its own)."""
        return chain_hash(
            self.prev,
            (
                self.seq if seq is None else seq,
                self.ts,
                self.kind,
                self.principal,
                self.tenant,
                self.workflow,
                self.run_id,
                self.subject,
                self.cost,
            ),
            self.data,
        )


def chain_hash(prev: str, header: Sequence[Any], data: str) -> str:
    """The hash of a record: over the previous hash, its header fields and its data text."""
    fields = _encode(tuple(header), None)  # a tuple encodes as the same array as a list
    return _sha256(b"%s\n%s\n%s" % (prev.encode(), fields, data.encode())).hexdigest()


def chain(notes: Iterable[AuditNote], head_seq: int, head_hash: str) -> list[AuditRecord]:
    """Number ``notes`` after the head (``head_seq``, ``head_hash``) and chain them.

    (:func:`chain_hash` inlined: this runs for every model call.)"""
    records: list[AuditRecord] = []
    seq, prev = head_seq, head_hash
    for n in notes:
        seq += 1
        data = _encode(n.data)
        cost = None if n.cost is None else float(n.cost)
        header = (seq, n.ts, n.kind, n.principal, n.tenant, n.workflow, n.run_id, n.subject, cost)
        fields = _encode(header, None)  # a tuple encodes as the same array as a list
        this = _sha256(b"%s\n%s\n%s" % (prev.encode(), fields, data)).hexdigest()
        records.append(AuditRecord(*header, data.decode(), prev, this))
        prev = this
    return records


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of :func:`verify_chain`: how many records were checked, and the first
    fault (``None``: the chain is whole)."""

    checked: int
    fault: str | None = None
    seq: int | None = None
    head: str = GENESIS
    head_seq: int = 0

    @property
    def ok(self) -> bool:
        return self.fault is None


def parse_anchor(text: str) -> tuple[int | None, str]:
    """``SEQ:HASH`` (what ``podium audit anchor`` prints) or a bare ``HASH``."""
    seq_text, _, digest_text = text.strip().rpartition(":")
    hex_part = digest_text.lower()
    if len(hex_part) != 64 or any(c not in "0123456789abcdef" for c in hex_part):
        raise ValueError("an anchor is SEQ:HASH or a 64-digit hex hash")
    if not seq_text:
        return None, hex_part
    if not seq_text.isdigit():
        raise ValueError("an anchor is SEQ:HASH or a 64-digit hex hash")
    return int(seq_text), hex_part


def verify_chain(records: Iterator[AuditRecord], anchor: str | None = None) -> Verdict:
    """Walk the records in ``seq`` order and check every hash and link.

    Names the first record that was altered (its contents do not give its hash), removed
    (a gap in the numbering, or a first record that is not the first), inserted (a record
    chained to one further back) or reordered (a record whose hash holds another position).
    With ``anchor`` (a head printed earlier), the anchored record must be there with that
    hash: a log cut back before it, or changed up to it, fails.
    """
    anchor_seq, anchor_hash = parse_anchor(anchor) if anchor else (None, "")
    anchor_met = anchor is None
    count = 0
    prev_seq, prev_hash = 0, GENESIS
    # the hashes of the last records, oldest first (an OrderedDict: dropping a plain dict's
    # first key again and again makes finding the next one slower each time)
    recent: OrderedDict[str, int] = OrderedDict({GENESIS: 0})
    for record in records:
        count += 1
        # the usual case, checked inline: the next number, linked to the last record, and
        # its contents give its hash (the rest, and naming a fault, is _fault's)
        seq, ts, kind, principal, tenant, workflow, run_id, subject, cost, data, prev, this = record
        header = _encode((seq, ts, kind, principal, tenant, workflow, run_id, subject, cost), None)
        if not (
            seq == prev_seq + 1
            and prev == prev_hash
            and _sha256(b"%s\n%s\n%s" % (prev.encode(), header, data.encode())).hexdigest() == this
        ):
            fault = _fault(record, prev_seq, prev_hash, recent)
            if fault is not None:
                seq, message = fault
                return Verdict(count - 1, message, seq, prev_hash, prev_seq)
        prev_seq, prev_hash = seq, this
        recent[this] = seq
        if len(recent) > 4096:
            recent.popitem(last=False)
        if not anchor_met and (
            (anchor_seq is None and record.hash == anchor_hash) or anchor_seq == record.seq
        ):
            if record.hash != anchor_hash:
                message = (
                    f"record {record.seq} does not match the anchor: the log was rewritten up to it"
                )
                return Verdict(count, message, record.seq, prev_hash, prev_seq)
            anchor_met = True
    if not anchor_met:
        where = f"record {anchor_seq}" if anchor_seq is not None else "the anchored record"
        message = (
            f"{where} is missing: the log ends at record {prev_seq}, so it was cut back "
            "or rewritten after the anchor was taken"
        )
        return Verdict(count, message, anchor_seq, prev_hash, prev_seq)
    return Verdict(count, None, None, prev_hash, prev_seq)


def _fault(
    record: AuditRecord, prev_seq: int, prev_hash: str, recent: dict[str, int]
) -> tuple[int, str] | None:
    seq = record.seq
    if seq > prev_seq + 1:
        first = prev_seq + 1
        span = f"record {first}" if seq == first + 1 else f"records {first} to {seq - 1}"
        return first, f"{span} removed (the log jumps from {prev_seq} to {seq})"
    if record.expected_hash() != record.hash:
        for other in range(max(1, seq - 16), seq + 17):
            if other != seq and record.expected_hash(other) == record.hash:
                earlier = recent.get(record.prev)
                if earlier is not None and earlier == other - 1 and earlier < prev_seq:
                    return other, (
                        f"record {other} inserted: the record now numbered {seq} was "
                        f"written as {other}, right after record {earlier}"
                    )
                return seq, f"record {seq} reordered: it was written as record {other}"
        return seq, f"record {seq} altered: its contents do not give its hash"
    if record.prev != prev_hash:
        earlier = recent.get(record.prev)
        if earlier is not None and earlier < prev_seq:
            return earlier + 1, (
                f"record {earlier + 1} inserted: record {seq} was chained to record {earlier}"
            )
        return seq, f"record {seq} reordered or inserted: it does not follow record {prev_seq}"
    return None
