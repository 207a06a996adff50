"""``crm-lookup``: a real SQLite customer table at ``<home>/demo/crm.db``.

The table ``customers`` holds 40 customers, ``CUST-1001`` .. ``CUST-1040``, generated
from a fixed seed (so every home gets the same rows): name, e-mail, tier (``standard``,
``plus``, ``premium``), number of open tickets, lifetime value and customer-since date.
:class:`CrmLookup` finds the database under ``$PODIUM_HOME`` (default ``./.podium``), the
home every Podium process uses, and creates it on first use.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from pathlib import Path
from typing import Any

from podium._config import Settings
from podium.demo._artifacts import demo_dir, training_lock

SEED = 1001
N_CUSTOMERS = 40
_FIRST = (
    "Ada",
    "Ben",
    "Chloe",
    "Diego",
    "Eva",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Liam",
    "Mei",
    "Noah",
    "Olga",
    "Pablo",
    "Rania",
    "Sven",
    "Tara",
    "Yusuf",
)
_LAST = (
    "Adams",
    "Becker",
    "Castro",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Gupta",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
)
_TIERS = (("standard", 0.6), ("plus", 0.28), ("premium", 0.12))


def customers() -> list[tuple[str, str, str, str, int, float, str]]:
    """The demo rows: ``(customer_id, name, email, tier, open_tickets, lifetime_value, since)``."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible demo rows, not secrets
    rows = []
    for i in range(N_CUSTOMERS):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        tier = rng.choices([t for t, _ in _TIERS], weights=[w for _, w in _TIERS])[0]
        base = {"standard": 180.0, "plus": 900.0, "premium": 4200.0}[tier]
        value = round(base * rng.uniform(0.3, 2.5), 2)
        tickets = rng.choices([0, 1, 2, 3, 5], weights=[45, 25, 15, 10, 5])[0]
        since = f"{rng.randint(2015, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        email = f"{first.lower()}.{last.lower()}@example.com"
        rows.append((f"CUST-{1001 + i}", f"{first} {last}", email, tier, tickets, value, since))
    return rows


def ensure_crm(home: Path) -> Path:
    """Create ``<home>/demo/crm.db`` with the demo customers if it is missing; return its path."""
    folder = demo_dir(home)
    path = folder / "crm.db"
    if path.is_file():
        return path
    with training_lock(folder):
        if path.is_file():
            return path
        tmp = folder / ".crm.db.tmp"
        tmp.unlink(missing_ok=True)
        with contextlib.closing(sqlite3.connect(tmp)) as db, db:
            db.execute(
                "CREATE TABLE customers (customer_id TEXT PRIMARY KEY, name TEXT NOT NULL,"
                " email TEXT NOT NULL, tier TEXT NOT NULL, open_tickets INTEGER NOT NULL,"
                " lifetime_value REAL NOT NULL, since TEXT NOT NULL)"
            )
            db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)", customers())
        tmp.replace(path)
    return path


class CrmLookup:
    """Looks a customer up by id; opens the database read-only for each call."""

    def __init__(self, home: Path | None = None) -> None:
        self._path = ensure_crm(home if home is not None else Settings.from_env().home)

    def predict(self, customer_id: str) -> dict[str, Any]:
        """``{found, name, tier, open_tickets, lifetime_value}`` (nulls when not found)."""
        uri = f"{self._path.as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            row = db.execute(
                "SELECT name, tier, open_tickets, lifetime_value FROM customers"
                " WHERE customer_id = ?",
                (customer_id.strip().upper(),),
            ).fetchone()
        if row is None:
            return {
                "found": False,
                "name": None,
                "tier": None,
                "open_tickets": None,
                "lifetime_value": None,
            }
        name, tier, tickets, value = row
        return {
            "found": True,
            "name": name,
            "tier": tier,
            "open_tickets": int(tickets),
            "lifetime_value": float(value),
        }
