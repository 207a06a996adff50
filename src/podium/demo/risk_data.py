"""A synthetic card-transaction set for the risk-scoring scenario.

Every call with the same ``n`` and ``seed`` returns the same data (NumPy's
``default_rng(seed)``). Each transaction has eight features:

======================  ==========================================================
``amount``              purchase amount in dollars: log-normal, median about 35,
                        long right tail (clipped to 1..20,000)
``hour``                local hour 0..23, mostly daytime, some at night
``merchant_risk``       the merchant's prior risk score, Beta(2, 5) in 0..1
``distance_from_home``  km from the card holder's home: exponential (mean 12 km),
                        plus 6% travellers at 200..6,000 km
``n_tx_last_24h``       transactions on the card in the past 24 h, Poisson(3)
``foreign``             1 if the merchant is abroad (8%, 60% for travellers)
``card_present``        1 for a chip/swipe purchase, 0 for card-not-present (40%)
``account_age_days``    age of the account, 1..3,650 (a quarter under 90 days)
======================  ==========================================================

The label is drawn from a logistic model of a *nonlinear* risk score ``z``
(``P(fraud) = 1 / (1 + exp(-z))``)::

    z = -8.0
        + 6.6 * sigmoid(2 * (ln(amount) - ln(400)))        large amounts, soft threshold
        + 6.0 * [hour < 6] * (1 - card_present)              night-time card-not-present
        + 12.0 * merchant_risk ** 2                          risky merchants, convex
        + 5.4 * foreign * [distance_from_home > 500]         far away and abroad together
        + 1.35 * max(n_tx_last_24h - 5, 0)                   bursts of activity
        + 4.8 * [account_age_days < 30]                      brand-new accounts
        + 5.4 * [amount > 1000] * [account_age_days < 90]    big spend on a young account
        + 2.7 * (1 - card_present)                           card-not-present at all

then 2% of labels are flipped at random (label noise). The thresholds and interactions
make a linear model on the raw features a weak fit and trees a good one. Labels are the
strings ``"fraud"`` and ``"legit"``; about 12% of transactions are fraud.
"""

from __future__ import annotations

from typing import Any

FEATURES: tuple[str, ...] = (
    "amount",
    "hour",
    "merchant_risk",
    "distance_from_home",
    "n_tx_last_24h",
    "foreign",
    "card_present",
    "account_age_days",
)
LABEL_NOISE = 0.02


def risk_score(x: Any) -> Any:
    """The rule's log-odds ``z`` for each row of ``x`` (columns in :data:`FEATURES` order)."""
    import numpy as np

    amount, hour, merchant, distance, n_tx, foreign, present, age = x.T
    big = 1.0 / (1.0 + np.exp(-2.0 * (np.log(amount) - np.log(400.0))))
    return (
        -8.0
        + 6.6 * big
        + 6.0 * (hour < 6) * (1 - present)
        + 12.0 * merchant**2
        + 5.4 * foreign * (distance > 500)
        + 1.35 * np.maximum(n_tx - 5, 0)
        + 4.8 * (age < 30)
        + 5.4 * (amount > 1000) * (age < 90)
        + 2.7 * (1 - present)
    )


def generate(n: int = 12_000, seed: int = 7) -> tuple[Any, Any]:
    """``(X, y)``: an ``(n, 8)`` float array in :data:`FEATURES` order and string labels."""
    import numpy as np

    rng = np.random.default_rng(seed)
    amount = np.clip(rng.lognormal(mean=np.log(35.0), sigma=1.2, size=n), 1.0, 20_000.0)
    hour_weights = np.array(
        [1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 9, 9, 9, 8, 8, 8, 8, 8, 7, 6, 4, 3, 2]
    )
    hour = rng.choice(24, size=n, p=hour_weights / hour_weights.sum())
    merchant = rng.beta(2.0, 5.0, size=n)
    traveller = rng.random(n) < 0.06
    distance = np.where(
        traveller, rng.uniform(200.0, 6_000.0, size=n), rng.exponential(12.0, size=n)
    )
    n_tx = rng.poisson(3.0, size=n)
    foreign = (rng.random(n) < np.where(traveller, 0.6, 0.08)).astype(float)
    present = (rng.random(n) < 0.6).astype(float)
    young = rng.random(n) < 0.25
    age = np.where(young, rng.integers(1, 90, size=n), rng.integers(90, 3_651, size=n))
    x = np.column_stack(
        [
            np.round(amount, 2),
            hour,
            np.round(merchant, 4),
            np.round(distance, 1),
            n_tx,
            foreign,
            present,
            age,
        ]
    ).astype(np.float64)
    fraud = rng.random(n) < 1.0 / (1.0 + np.exp(-risk_score(x)))
    flip = rng.random(n) < LABEL_NOISE
    labels = np.where(fraud ^ flip, "fraud", "legit")
    return x, labels
