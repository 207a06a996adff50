"""Console sessions over a real SQLite store: a key becomes a session, and a session ends
when it expires, is closed, or its key is revoked."""

from __future__ import annotations

import time
from pathlib import Path

from podium.governance import KeyRing
from podium.server._sessions import KIND, SessionBook
from podium.store import SqlStore


def _book(tmp_path: Path, lifetime_s: float = 3600.0) -> tuple[SessionBook, KeyRing, str]:
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    keys = KeyRing(store)
    _, token = keys.create("operator", tenant="t")
    return SessionBook(store, keys, lifetime_s), keys, token


def test_a_key_opens_a_session_that_keeps_no_secret(tmp_path: Path) -> None:
    book, _, token = _book(tmp_path)
    opened = book.open(token)
    assert opened is not None
    cookie, session = opened
    assert session.key.tenant == "t" and len(session.csrf) >= 32
    stored = book.store.documents(KIND)
    assert len(stored) == 1
    text = repr(stored)
    assert cookie not in text and token not in text  # only the cookie's hash is a key
    found = book.find(cookie)
    assert found is not None and found.csrf_matches(session.csrf)
    assert not found.csrf_matches(None) and not found.csrf_matches("x" * len(session.csrf))
    assert book.open("pdm_nothing_here") is None
    assert book.find("not-a-session") is None


def test_a_session_ends_when_closed_or_its_key_is_revoked(tmp_path: Path) -> None:
    book, keys, token = _book(tmp_path)
    first = book.open(token)
    second = book.open(token)
    assert first is not None and second is not None
    book.close(first[0])
    assert book.find(first[0]) is None
    assert book.find(second[0]) is not None
    keys.revoke(second[1].key.key_id)
    book._cache.clear()  # what a second's wait does
    assert book.find(second[0]) is None


def test_an_expired_session_is_refused_and_forgotten_at_the_next_sign_in(tmp_path: Path) -> None:
    book, _, token = _book(tmp_path, lifetime_s=0.2)
    opened = book.open(token)
    assert opened is not None
    time.sleep(0.3)
    assert book.find(opened[0]) is None
    book.open(token)
    assert len(book.store.documents(KIND)) == 1  # the expired one is gone
