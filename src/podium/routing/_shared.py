"""Live routing state shared by every process on one store, kept in step in the background.

What is shared, and how (each process keeps working from memory; a thread syncs):

* **Statistics** per model and capability, the bandit's **judgements** and its contexts'
  **exploration counters**: every ``interval_s`` the thread pushes what changed since its
  last push as deltas, which the database adds in one transaction
  (:meth:`~podium.store.Store.add_counters`), then reads back what changed (its own and
  everyone else's) and takes the totals. No process overwrites another's numbers.
* **Circuit breakers**: when a breaker here opens or closes, the thread is woken and
  writes it at once; the others adopt it at their next sync (within ``interval_s``). The
  failure windows that decide a trip stay per process; a probe half-open is local.
* **Rate limits**: a token bucket in the database (see :class:`SharedBucket`).
* **Sessions**: each process records when it last pushed and that it is alive. A process
  that starts and finds no other alive replays the calls the event log recorded after the
  last push (those of a process that died before pushing them), as a single process did.

The router's hot path never waits for the database: it changes memory under one lock held
for well under a microsecond; the thread takes the same lock only to cut and to apply.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from podium.errors import PodiumError
from podium.routing._bandit import ARMS, CONTEXTS, EXPLORE
from podium.routing._breaker import BreakerState
from podium.routing._ratelimit import SharedBucket
from podium.routing._stats import KIND as STATS
from podium.store import Delta, Store

if TYPE_CHECKING:
    from podium.routing._router import AdaptiveRouter

log = logging.getLogger("podium.routing")

BREAKERS = "routing.breakers"
SESSIONS = "routing.sessions"
#: Changes are read again for this long (transactions that were still committing).
MARGIN_S = 10.0
#: A process that pushes nothing still says it is alive this often...
HEARTBEAT_S = 10.0
#: ...and is taken for gone when it has not for this long (or its pid is gone, same host).
ALIVE_S = 30.0
#: Past this many recorded processes, those gone for FORGET_S are forgotten.
KEEP_SESSIONS = 100
FORGET_S = 86_400.0
#: Failing rounds are logged as a warning only once they have failed this long.
QUIET_S = 60.0
_HOST = socket.gethostname()
_LEGACY_WATERMARK = "__watermark__"  # the 0.1 store's mark of its last statistics write


class LiveSync:
    """Keeps one router's live state in step with the other processes on ``store``."""

    def __init__(self, router: AdaptiveRouter, store: Store, interval_s: float) -> None:
        self.router = router
        self.store = store
        self.interval_s = interval_s
        self.session = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._since = {STATS: 0.0, ARMS: 0.0, EXPLORE: 0.0, BREAKERS: 0.0}
        self._asks: list[SharedBucket] = []
        self._breakers_changed = False
        # per breaker ("model@version#instance"): (open, reopen at (wall clock), changed at)
        self._published: dict[str, tuple[bool, float, float]] = {}
        self._waiting: dict[str, dict[str, float]] = {}  # for models with no pool here yet
        self._alive_at = 0.0
        self._failing_since = 0.0  # when the rounds began to fail (0: they do not)
        self._warned_at = -math.inf
        self._round = threading.Lock()  # one sync at a time (the thread's, or a flush)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background thread (once)."""
        if self._thread is not None or self._closed:
            return
        self._thread = threading.Thread(
            target=_loop,
            args=(weakref.ref(self), self._wake, self.interval_s),
            name="podium-live-sync",
            daemon=True,
        )
        weakref.finalize(self, self._wake.set)  # wakes the thread to end when this goes
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and push what is left; this process is then gone for the others."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self.sync(pull=False, leaving=True)

    def load(self) -> None:
        """Read everything shared, and replay the event log's unpushed calls if no other
        process is alive to push its own.

        This process says it is alive before it looks for others, replays only calls made
        before that, and makes none of its own before it has loaded: of two starting
        together, at most one replays, and never a call the other made.
        """
        self._pull()
        store, router = self.store, self.router
        now = time.time()
        store.add_counters({SESSIONS: self._session(now, now)})
        self._alive_at = now
        sessions, _ = store.counters(SESSIONS)
        sessions.pop(self.session, None)
        self._prune(sessions)
        if not any(_alive(key, numbers) for key, numbers in sessions.items()):
            # Every call before the newest push is in the store; those after it and before
            # this process said it was alive are of processes gone without pushing them.
            mark = max((s.get("pushed_until", 0.0) for s in sessions.values()), default=0.0)
            if not sessions:
                legacy = store.get_document(STATS, _LEGACY_WATERMARK)
                mark = float(legacy["ts"]) if legacy else 0.0
            with router.mutex:
                replayed = router.stats.replay(store, mark, now, router.capability_of)
            if replayed:
                self.sync(pull=False)  # the next process to start sees them pushed
        router.bandit.load_contexts(store.documents(CONTEXTS))
        router.cascades.load(store)

    def _prune(self, sessions: dict[str, dict[str, float]]) -> None:
        """Forget processes gone for a day (every CLI run that routes is one), except the
        one that pushed last: its time is the mark a replay starts from."""
        if len(sessions) <= KEEP_SESSIONS:
            return
        newest = max(s.get("pushed_until", 0.0) for s in sessions.values())
        old = [
            key
            for key, s in sessions.items()
            if s.get("pushed_until", 0.0) < newest - FORGET_S and not _alive(key, s)
        ]
        if old:
            self.store.delete_counters(SESSIONS, old)
            for key in old:
                del sessions[key]

    def _session(self, pushed_until: float, alive_at: float) -> list[Delta]:
        return [
            Delta(self.session, "pushed_until", pushed_until, 1.0),
            Delta(self.session, "alive_at", alive_at, 1.0),
        ]

    # the hot path's requests (called under the router's lock) -----------------------------
    def ask_tokens(self, bucket: SharedBucket) -> None:
        self._asks.append(bucket)
        self._wake.set()

    def breakers_changed(self) -> None:
        self._breakers_changed = True
        self._wake.set()

    def adopt_waiting(self, model: str, pool: Any) -> None:
        """Give a pool made just now the breaker states other processes published."""
        for i, breaker in enumerate(pool.breakers):
            numbers = self._waiting.pop(f"{model}#{i}", None)
            if numbers is not None:
                self._adopt(breaker, numbers)

    # one round -----------------------------------------------------------------------------
    def sync(self, *, pull: bool = True, leaving: bool = False) -> None:
        """Push what changed here, then (``pull``) take what changed everywhere."""
        router, store = self.router, self.store
        with self._round:
            with router.mutex:
                cut_at = time.time()
                stats_deltas, stats_marks = router.stats.cut()
                changes, bandit_marks = router.bandit.cut()
                published = self._publish() if self._breakers_changed else {}
                contexts = router.bandit.contexts()
            changes[STATS] = stats_deltas
            changes[BREAKERS] = [
                Delta(key, name, value, 1.0)
                for key, (is_open, reopen_at, at) in published.items()
                for name, value in (("open", float(is_open)), ("reopen_at", reopen_at), ("at", at))
            ]
            pushing = any(changes.values())
            if pushing or leaving or cut_at - self._alive_at > HEARTBEAT_S:
                changes[SESSIONS] = self._session(cut_at, 0.0 if leaving else cut_at)
            try:
                store.add_counters(changes)  # in, all of it, or nothing: then retried whole
            except PodiumError as exc:
                with router.mutex:
                    router.stats.unsettle(stats_marks)
                    router.bandit.unsettle(bandit_marks)
                    for key in published:
                        self._published.pop(key, None)
                    self._breakers_changed |= bool(published)
                self._failed("routing state not shared", exc)
                return
            with router.mutex:
                router.stats.settle(stats_marks)
                router.bandit.settle(bandit_marks)
            if SESSIONS in changes:
                self._alive_at = cut_at
            router.cascades.flush(store)  # keeps what it could not write for the next round
            try:
                for key, state in contexts.items():  # whole states: the last writer's stays
                    store.put_document(CONTEXTS, key, state)
            except PodiumError as exc:
                self._failed("routing contexts not saved", exc)
            if pull:
                try:
                    self._pull()
                except PodiumError as exc:
                    self._failed("shared routing state not read", exc)
                    return
            self._failing_since = 0.0

    def serve_tokens(self) -> None:
        """Answer the buckets that asked for tokens."""
        router = self.router
        with router.mutex:
            asks, self._asks = self._asks, []
        answers = []
        for bucket in asks:
            try:
                got = self.store.take_tokens(bucket.key, bucket.batch, bucket.per_s, bucket.burst)
                answers.append((bucket, got.granted, got.wait_s))
            except PodiumError as exc:
                self._failed(f"rate limit {bucket.key} not read", exc)
                answers.append((bucket, 0, 0.05))
        with router.mutex:
            for bucket, granted, wait_s in answers:
                bucket.granted(granted, wait_s)

    # internals -----------------------------------------------------------------------------
    def _failed(self, what: str, exc: PodiumError) -> None:
        """A failed round is retried at the next; the database's failing is the runs'
        business to report (one line), so this says so only once it has lasted a while."""
        now = time.monotonic()
        if not self._failing_since:
            self._failing_since = now
        if now - self._failing_since >= QUIET_S and now - self._warned_at >= QUIET_S * 10:
            self._warned_at = now
            log.warning("%s for %.0f s (retrying): %s", what, now - self._failing_since, exc)
        else:
            log.debug("%s (will retry): %s", what, exc)

    def _pull(self) -> None:
        router, store = self.router, self.store
        kinds = [STATS, BREAKERS]
        if router.bandit.active:
            kinds += [ARMS, EXPLORE]
        found: dict[str, dict[str, dict[str, float]]] = {}
        for kind in kinds:
            found[kind], clock = store.counters(kind, since=self._since[kind])
            self._since[kind] = clock - MARGIN_S
        with router.mutex:
            changed = router.stats.apply(found[STATS])
            if ARMS in found:
                router.bandit.apply(found[ARMS], found[EXPLORE])
            moved = self._adopt_all(found[BREAKERS])
            router.shared_changed(changed, moved)

    def _publish(self) -> dict[str, tuple[bool, float, float]]:
        """The breakers whose open/closed state differs from what the store has."""
        self._breakers_changed = False
        router = self.router
        now, wall = router.now(), time.time()
        out: dict[str, tuple[bool, float, float]] = {}
        for slot in list(router.slots()):
            for i, breaker in enumerate(slot.pool.breakers):
                if breaker.state is BreakerState.HALF_OPEN:
                    continue  # probing here: the others keep it open until they probe too
                key = f"{slot.key}#{i}"
                is_open = breaker.state is BreakerState.OPEN
                reopen = wall + (breaker.reopen_at - now) if is_open else 0.0
                known = self._published.get(key)
                if known is None and not is_open:
                    continue
                if known is not None and known[0] == is_open and abs(known[1] - reopen) < 1e-3:
                    continue
                out[key] = self._published[key] = (is_open, reopen, wall)
        return out

    def _adopt_all(self, rows: dict[str, dict[str, float]]) -> bool:
        """Take breaker states published by others (newer than what this process knows)."""
        moved = False
        pools = {slot.key: slot.pool for slot in self.router.slots()}
        for key, numbers in rows.items():
            at = numbers.get("at", 0.0)
            known = self._published.get(key)
            if known is not None and known[2] >= at:
                continue  # ours, or older than what we know
            model, _, index = key.rpartition("#")
            pool = pools.get(model)
            if pool is None or not index.isdigit() or int(index) >= len(pool.breakers):
                self._waiting[key] = numbers
                continue
            moved |= self._adopt(pool.breakers[int(index)], numbers)
            is_open = bool(numbers.get("open"))
            self._published[key] = (is_open, numbers.get("reopen_at", 0.0), at)
        return moved

    def _adopt(self, breaker: Any, numbers: dict[str, float]) -> bool:
        is_open = bool(numbers.get("open"))
        reopen_wall = numbers.get("reopen_at", 0.0)
        if is_open and reopen_wall <= time.time():
            return False  # already due for a probe: this process will probe on its own
        reopen = self.router.now() + (reopen_wall - time.time())
        cooldown = breaker.config.cooldown_s
        return bool(breaker.adopt(is_open, reopen, cooldown))


def _alive(session: str, numbers: dict[str, float]) -> bool:
    """Whether the process behind ``session`` (``host:pid:tag``) may still push calls."""
    alive_at = numbers.get("alive_at", 0.0)
    if alive_at <= 0.0 or alive_at < time.time() - ALIVE_S:
        return False
    host, _, rest = session.partition(":")
    pid = rest.partition(":")[0]
    if host == _HOST and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True  # there, but not ours to signal
    return True


def _loop(ref: weakref.ref[LiveSync], wake: threading.Event, interval_s: float) -> None:
    """The background thread: tokens when asked, a full sync every ``interval_s`` (or at
    once when a breaker changed). Holds the :class:`LiveSync` only while working."""
    due = time.monotonic() + interval_s
    while True:
        wake.wait(max(0.0, due - time.monotonic()))
        wake.clear()
        sync = ref()
        if sync is None or sync._closed:
            return
        try:
            if sync._asks:
                sync.serve_tokens()
            if sync._breakers_changed or time.monotonic() >= due:
                sync.sync()
                due = time.monotonic() + interval_s
        except Exception:  # the thread must outlive any one failure
            log.exception("routing state sync failed")
        del sync
