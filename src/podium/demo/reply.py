"""``reply-drafter``: a first reply to a customer, from templates or an LLM.

By default the reply is assembled from templates keyed by intent, sentiment and customer
tier (``source: "template"``). When ``PODIUM_LLM_BASE_URL`` is set (an OpenAI-compatible
base URL such as ``http://127.0.0.1:8000/v1``), the drafter asks that server's
``/chat/completions`` endpoint instead, with model ``PODIUM_LLM_MODEL`` (default
``"default"``) and bearer token ``PODIUM_LLM_API_KEY`` if set (``source: "llm"``); if the
call fails in any way it falls back to the template.
"""

from __future__ import annotations

import os
from typing import Any

_BODIES = {
    "billing": (
        "I've looked into the charge{order}. Our billing team will review it and, if anything "
        "was taken in error, the refund goes back to your original payment method within "
        "5-7 business days."
    ),
    "technical": (
        "Sorry about the trouble. Could you tell us your app version and device, and try "
        "signing out and back in? I've opened a ticket with our engineers{order}."
    ),
    "cancellation": (
        "I can take care of the cancellation{order}. You'll get a written confirmation by "
        "e-mail, and you keep access until the end of the current billing period."
    ),
    "shipping": (
        "I've checked with the carrier{order}. I'll send you the latest tracking details, and "
        "if the parcel doesn't move within 48 hours we'll ship a replacement at no cost."
    ),
    "account": (
        "For your security I've sent a verification link to the e-mail on file. Once you "
        "confirm it, we can make the change to your account{order}."
    ),
}
_GENERIC = "Thanks for the details{order}. A member of our team will get back to you shortly."
_OPENERS = {
    "negative": "I'm sorry for the frustration, and thank you for your patience.",
    "neutral": "Thanks for reaching out.",
    "positive": "Thanks so much for the kind words!",
}
_TIER_LINES = {
    "premium": "As a Premium customer, your request has been moved to our priority queue.",
    "plus": "As a Plus member, you can also reach us any time on the priority line.",
}


def template_reply(
    intent: str,
    sentiment: str | None = None,
    tier: str | None = None,
    name: str | None = None,
    order_id: str | None = None,
) -> str:
    """The template reply for an intent, sentiment (label) and customer tier."""
    order = f" for order {order_id}" if order_id else ""
    parts = [
        f"Hi {name.split()[0]}," if name else "Hello,",
        _OPENERS.get((sentiment or "neutral").lower(), _OPENERS["neutral"]),
        _BODIES.get(intent.lower(), _GENERIC).format(order=order),
    ]
    if tier and tier.lower() in _TIER_LINES:
        parts.append(_TIER_LINES[tier.lower()])
    parts.append("Best regards,\nThe Support Team")
    return "\n\n".join([parts[0], " ".join(parts[1:-1]), parts[-1]])


class ReplyDrafter:
    """Drafts one reply; async, so an LLM call does not hold a worker thread."""

    async def predict(
        self,
        intent: str,
        *,
        sentiment: str | None = None,
        tier: str | None = None,
        name: str | None = None,
        order_id: str | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        """``{reply, source}``; ``source`` is ``"llm"`` or ``"template"``."""
        base_url = os.environ.get("PODIUM_LLM_BASE_URL")
        if base_url:
            text = await _llm_reply(
                base_url,
                intent=intent,
                sentiment=sentiment,
                tier=tier,
                name=name,
                order_id=order_id,
                message=message,
            )
            if text:
                return {"reply": text, "source": "llm"}
        reply = template_reply(intent, sentiment, tier, name, order_id)
        return {"reply": reply, "source": "template"}


async def _llm_reply(
    base_url: str,
    *,
    intent: str,
    sentiment: str | None,
    tier: str | None,
    name: str | None,
    order_id: str | None,
    message: str | None,
) -> str | None:
    """The LLM's reply, or ``None`` on any failure (the caller falls back to a template)."""
    import httpx

    facts = [f"Intent: {intent}", f"Sentiment: {sentiment or 'unknown'}"]
    facts += [f"{k}: {v}" for k, v in (("Tier", tier), ("Name", name), ("Order", order_id)) if v]
    if message:
        facts.append(f"Customer message: {message}")
    headers = {}
    key = os.environ.get("PODIUM_LLM_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    payload = {
        "model": os.environ.get("PODIUM_LLM_MODEL", "default"),
        "messages": [
            {
                "role": "system",
                "content": "You are a concise, polite customer-support agent. Write a short "
                "first reply (under 120 words) to the customer. Do not invent facts.",
            },
            {"role": "user", "content": "\n".join(facts)},
        ],
        "temperature": 0.3,
    }
    try:
        timeout = float(os.environ.get("PODIUM_LLM_TIMEOUT_S", "20"))
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(
                base_url.rstrip("/") + "/chat/completions", json=payload, headers=headers
            )
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
    except Exception:
        return None
    return content.strip() if isinstance(content, str) and content.strip() else None
