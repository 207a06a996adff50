"""Console sessions: an API key exchanged once for a session cookie.

Signing in with a key stores a session document keyed by the SHA-256 of a random token;
the browser holds the token in an httpOnly, SameSite=Strict cookie and never the key.
Each session has its own CSRF token, which the console's pages carry and send back in the
``X-CSRF-Token`` header (or a form field) with every request that changes something; a
request carrying the cookie but not the token is refused. A session ends at sign-out, when
it expires, or when its key is revoked or expires (the key is checked on every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from podium.governance import ApiKey, KeyRing
from podium.store import Store

KIND = "console.session"
COOKIE = "podium_session"
CSRF_HEADER = "x-csrf-token"
#: How long a session lasts without signing in again.
SESSION_S = 12 * 3600.0
#: How long a read session document is trusted before it is read again.
CACHE_S = 1.0
_CACHE_MAX = 4096


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """A signed-in browser: the key it stands for and its CSRF token."""

    key: ApiKey
    csrf: str
    expires_at: float

    def csrf_matches(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf, str(sent))


class SessionBook:
    """Sessions kept in the store (so every server over the same store knows them)."""

    def __init__(self, store: Store, keys: KeyRing, lifetime_s: float = SESSION_S) -> None:
        self.store = store
        self.keys = keys
        self.lifetime_s = lifetime_s
        self._cache: dict[str, tuple[Session | None, float]] = {}

    def open(self, token: str) -> tuple[str, Session] | None:
        """A new session for the API key ``token``: (cookie value, session); ``None`` when
        the key is unknown, expired or revoked."""
        key = self.keys.verify(token)
        if key is None:
            return None
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = time.time() + self.lifetime_s
        if key.expires_at is not None:
            expires = min(expires, key.expires_at)
        record: dict[str, object] = {"key_id": key.key_id, "csrf": csrf, "expires_at": expires}
        self._forget_expired()
        self.store.put_document(KIND, _digest(cookie), record)
        return cookie, Session(key, csrf, expires)

    def find(self, cookie: str | None) -> Session | None:
        """The live session of ``cookie``, or ``None``."""
        if not cookie or len(cookie) > 200:
            return None
        digest = _digest(cookie)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[1] < CACHE_S:
            found = cached[0]
        else:
            found = self._read(digest)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[digest] = (found, now)
        if found is None or found.expires_at <= time.time() or not found.key.usable():
            return None
        return found

    def _read(self, digest: str) -> Session | None:
        record = self.store.get_document(KIND, digest)
        if record is None:
            return None
        key = self.keys.get(str(record.get("key_id")))
        if key is None:
            return None
        return Session(key, str(record.get("csrf")), float(record.get("expires_at") or 0.0))

    def _forget_expired(self) -> None:
        """Delete the documents of sessions that have expired (done at each sign-in, which
        is rare next to the requests a session makes)."""
        now = time.time()
        for digest, record in self.store.documents(KIND).items():
            if float(record.get("expires_at") or 0.0) <= now:
                self.store.delete_document(KIND, digest)

    def close(self, cookie: str | None) -> None:
        """End the session of ``cookie`` (sign-out)."""
        if not cookie or len(cookie) > 200:
            return
        digest = _digest(cookie)
        self._cache.pop(digest, None)
        self.store.delete_document(KIND, digest)
