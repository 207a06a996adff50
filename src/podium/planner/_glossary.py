"""Capability descriptions: what a capability is for, in the words people ask with.

A capability is a contract shared by every model that offers it, so it is described once,
here, rather than in each model's manifest (whose description says how *that* model works).
The planner matches goal text against these descriptions as well as against model
descriptions. :data:`BUILTIN` covers the capabilities Podium's own models offer; users add
or override descriptions with :meth:`podium.planner.Planner.describe_capability`.
"""

from __future__ import annotations

BUILTIN: dict[str, str] = {
    "text.intent": (
        "Classify or categorize what a customer message is about and what the customer "
        "wants (billing, technical problem, cancellation, shipping, account), so the "
        "request can be routed to the right team."
    ),
    "text.sentiment": (
        "Sentiment and tone of a text: how the writer feels, whether they are happy, "
        "satisfied, neutral, upset, frustrated or angry; positive or negative."
    ),
    "text.entities": (
        "Extract the entities mentioned in a text: order numbers and ids, money amounts, "
        "dates and e-mail addresses."
    ),
    "text.reply": "Draft, write or compose a reply, answer or response to a customer.",
    "crm.lookup": (
        "Look up a customer's record in the CRM by customer id: profile, name, tier, "
        "account history, open tickets and lifetime value."
    ),
    "risk.score": (
        "Fraud risk of a card payment or transaction: is it fraudulent, suspicious or legit."
    ),
    "diagnosis.malignancy": (
        "Diagnose a breast tumour from the cell nucleus measurements of a biopsy: "
        "malignant (cancer) or benign."
    ),
    "diagnosis.stacking": (
        "Combine the class probabilities of several diagnostic models into one diagnosis."
    ),
    "text.embedding": "Turn a text into a sentence embedding vector for similarity search.",
}
