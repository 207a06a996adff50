"""Order between steps that share no data (API calls), from the words of the request.

See :class:`Order`; steps that read an earlier result are ordered by that data instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from podium.planner._decompose import SubTask

if TYPE_CHECKING:
    from podium.planner._flow import Node

_JOIN = re.compile(
    r"\b(?:both|all of (?:them|these|those|this|it)|them all|each of them|all (?:the|these|those)"
    r"|these|those|them|everything)\b",
    re.IGNORECASE,
)


class Order:
    """Order between calls that share no data (API calls), from the request's words. In a
    request that tells a sequence ("then", "after that", "finally", "X after Y") each call
    follows the one before ("Book a flight, book the hotel, and finally send an SMS"); in
    one that does not, calls joined by "and" run side by side ("Turn on the heating and
    play some jazz") unless a call refers back ("... for the same date"). A branch joined
    by "also" never follows; a call that takes several earlier ones together ("..., then
    e-mail both", "once both are done, ...") follows each of them, which then run side by
    side. Calls that read an earlier result are ordered by that data."""

    def __init__(self, sequenced: bool) -> None:
        self.sequenced = sequenced
        self.group: list[int] = []
        self.previous: list[int] = []
        self.last: int | None = None
        self.chained: set[tuple[int, int]] = set()
        self.pending_seq = False
        self.pending_join = False

    def skip(self, task: SubTask) -> None:
        """A clause with no step ("once both are done") still says how the next follows."""
        if task.clause.context:
            return
        self.pending_seq |= task.clause.link == "seq"
        self.pending_join |= bool(_JOIN.search(task.clause.text))

    def place(self, nodes: Sequence[Node], k: int, task: SubTask, *, ordered: bool) -> None:
        link = task.clause.link
        seq = link == "seq" or self.pending_seq
        join = self.pending_join or bool(_JOIN.search(task.clause.text))
        self.pending_seq = self.pending_join = False
        if seq:
            self.previous, self.group = self.group or self.previous, []
        node = nodes[k]
        if ordered and link != "par":
            joined = [g for g in (self.previous if seq else self.group) if g != k]
            if join and len(joined) > 1:
                for a, b in list(self.chained):
                    if a in joined and b in joined:
                        nodes[b].after.discard(a)
                        self.chained.discard((a, b))
                node.after.update(joined)
            elif (
                self.last is not None
                and self.last != k
                and (seq or self.sequenced or task.clause.refers)
            ):
                node.after.add(self.last)
                self.chained.add((self.last, k))
        node.after.discard(k)
        if k not in self.group:
            self.group.append(k)
        self.last = k
