"""``reply-drafter``: a first reply to a customer, from templates or an LLM.

By default the reply is assembled from templates keyed by intent, sentiment, customer
tier and what the message does (``source: "template"``): a complaint is answered with an
apology and the intent's fix, a question with the intent's answer, praise with thanks. A
message with complaint cues (:func:`podium.demo.tone.complaint_cues`) is never thanked
for kind words, whatever sentiment label it came with. When ``PODIUM_LLM_BASE_URL`` is
set (an OpenAI-compatible base URL such as ``http://127.0.0.1:8000/v1``), the drafter
asks that server's ``/chat/completions`` endpoint instead, with model ``PODIUM_LLM_MODEL``
(default ``"default"``) and bearer token ``PODIUM_LLM_API_KEY`` if set (``source:
"llm"``); if the call fails in any way it falls back to the template.
"""

from __future__ import annotations

import os
import re
from typing import Any

from podium.demo.tone import complaint_cues, says_resolved

#: intent -> body for a message that reports a problem
_PROBLEM_BODIES = {
    "billing": (
        "I've looked into the charge{order}. Our billing team will review it and, if anything "
        "was taken in error, the refund goes back to your original payment method within "
        "5-7 business days."
    ),
    "technical": (
        "Could you tell us your app version and device, and try signing out and back in? "
        "I've opened a ticket with our engineers{order}."
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
#: intent -> body for a question or request (nothing has gone wrong)
_REQUEST_BODIES = {
    "billing": (
        "I've passed your billing question{order} to our billing team, who will reply with "
        "the details within one business day; invoices and receipts are also under Account > "
        "Billing."
    ),
    "technical": (
        "Our help centre has a step-by-step guide for this, and I've asked one of our "
        "engineers to follow up{order} in case anything is unclear."
    ),
    "cancellation": _PROBLEM_BODIES["cancellation"],
    "shipping": (
        "I've checked the delivery options{order} and will send you the details, with the "
        "tracking link as soon as the parcel ships."
    ),
    "account": _PROBLEM_BODIES["account"],
}
_GLAD_BODY = "I'm glad it all worked out{order}, and I've passed your message on to the team."
_GENERIC = "Thanks for the details{order}. A member of our team will get back to you shortly."
_OPENERS = {
    "negative": "I'm sorry about this, and thank you for your patience.",
    "neutral": "Thanks for reaching out.",
    "positive": "Thanks so much for the kind words!",
}
_TIER_LINES = {
    "premium": "As a Premium customer, your request has been moved to our priority queue.",
    "plus": "As a Plus member, you can also reach us any time on the priority line.",
}
_ASKS = re.compile(
    r"\?|\b(?:how|can|could|would|please|need|want|wondering|is there|do you)\b", re.IGNORECASE
)


def reply_tone(sentiment: str | None, message: str | None) -> str:
    """The tone to answer in: the sentiment label, except that a message reporting a
    problem is never answered as praise (whichever model labelled its sentiment), and is
    answered as a complaint when no sentiment came with it."""
    tone = (sentiment or "").lower()
    complained = (
        bool(message) and complaint_cues(message or "") and not says_resolved(message or "")
    )
    if tone not in ("neutral", "negative") and complained:
        return "negative"
    return tone if tone in _OPENERS else "neutral"


def template_reply(
    intent: str,
    sentiment: str | None = None,
    tier: str | None = None,
    name: str | None = None,
    order_id: str | None = None,
    message: str | None = None,
) -> str:
    """The template reply for an intent, sentiment (label), customer tier and message.

    A complaint gets an apology and the intent's problem-handling body; a question or
    request gets the intent's answer; praise gets thanks, and the answer only if the
    message also asks for something.
    """
    order = f" for order {order_id}" if order_id else ""
    tone = reply_tone(sentiment, message)
    key = intent.lower()
    if tone == "negative":
        body = _PROBLEM_BODIES.get(key, _GENERIC)
    elif tone == "positive" and not (message and _ASKS.search(message)):
        body = _GLAD_BODY
    else:
        body = _REQUEST_BODIES.get(key, _GENERIC)
    parts = [
        f"Hi {name.split()[0]}," if name else "Hello,",
        _OPENERS[tone],
        body.format(order=order),
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
                sentiment=reply_tone(sentiment, message),
                tier=tier,
                name=name,
                order_id=order_id,
                message=message,
            )
            if text:
                return {"reply": text, "source": "llm"}
        reply = template_reply(intent, sentiment, tier, name, order_id, message)
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
