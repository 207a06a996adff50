"""``support-tone``: the tone of a support message, read the way a support desk reads it.

VADER alone reads politeness as praise: "I was charged twice for ORD-12345, please refund
me" scores +0.13 ("please"), so it is "positive". In a support inbox, though, a message
that reports a problem is a complaint however politely it is put, a question or request
is neutral, and a positive message thanks or praises. :class:`SupportTone` combines:

* VADER's compound score, computed with the support desk's formula words made neutral:
  "please", "kindly", "thanks" as a sign-off, "I'd like", "number", "cancel", "stop",
  "by mistake"... (:data:`FORMULA_WORDS`);
* complaint cues (:data:`COMPLAINT_CUES`): something broken, missing, late, wrong,
  charged twice, still not done, repeated, against a promise, or plain frustration;
* praise and thanks cues (:data:`PRAISE_CUES`), and resolution cues ("fixed", "sorted",
  "working again"): a message that says a problem is solved is not a complaint.

A message with a complaint cue (and no resolution it is glad about) is ``negative``; else
one with praise or a clearly positive score is ``positive``; else a clearly negative
score is ``negative``; else ``neutral``. ``score`` is the adjusted compound moved into the
band of that label (``positive`` at 0.05 or above, ``negative`` at -0.05 or below), so
``label_of(score) == label`` as for VADER. A complaint on its own scores -0.3 to -0.5;
only strongly negative language goes below -0.5, where the support workflow escalates.
``cues`` names what was found, so every label explains itself.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from podium.demo.sentiment import NEGATIVE_AT, POSITIVE_AT, label_of

#: Words VADER scores that, in support messages, are formulas rather than feelings.
FORMULA_WORDS = frozenset(
    {
        # courtesy and request formulas
        "please", "kindly", "thanks", "thank", "thx", "dear", "best", "regards", "cheers",
        "like", "want", "hope", "wish", "sure", "ok", "okay", "care", "welcome",
        # nouns that name things, not feelings
        "number", "credit", "support", "help", "security", "gift", "free", "alert",
        "chance", "certain", "increase", "reach", "create", "created", "accept", "agreed",
        "urgent", "well", "grey", "po", "save", "saved", "effective", "resolve",
        # plain requests: cancelling or stopping something is not an emotion
        "cancel", "cancels", "cancelled", "canceled", "cancelling", "canceling", "stop",
        "drop", "mistake", "accident", "accidental", "pay", "no",
        # a problem word the complaint cues weigh in context (not "I ordered the wrong size")
        "wrong",
    }
)  # fmt: skip

_PROBLEM = (
    r"won'?t|wouldn'?t|doesn'?t work|don'?t work|isn'?t working|not working|stopped working|"
    r"(?:does|did) nothing|broken|broke|crash\w*|error\w*|bug(?:gy|s)?|fail\w*|freez\w*|"
    r"stuck|glitch\w*|(?:keeps?|kept) \w+ing|keep getting|can'?t|cannot|couldn'?t|unable|"
    r"not able|disconnect\w*|drops?\b|dies\b|died|dead|timing out|time[ds]? ?out|outage|"
    r"down\b|not loading|nothing loads|unreadable|duplicat\w*|rejected|declin\w*|"
    r"isn'?t (?:at|in|on|there)|invalid|no longer works|noise|noisy|faulty|"
    r"(?:doesn'?t|don'?t|won'?t|isn'?t|aren'?t) (?!need|use|want)\w+(?: up)? anymore|"
    r"defective|chipped|bent|ruined|soaked|confus\w*|downhill"
)
_DELIVERY = (
    r"never (?:arrived|came|received|got|showed|answers?|arrives|replied)|"
    r"(?:hasn'?t|haven'?t|didn'?t|did not|has not|have not|wasn'?t|was not) "
    r"(?:arrived|come|came|received|updated|shipped|moved|apply|applied|answered|replied)|"
    r"not (?:arrived|received|delivered)|missing|lost|damaged|cracked|dented|torn|"
    r"scratched|leak\w*|(?:nobody|no one) (?:came|come|answer\w*|picked|call\w*|repl\w*|"
    r"showed)|late\b|delayed|still (?:no|not|nothing|waiting|hasn'?t|haven'?t|shows?|says?|"
    r"stuck|processing|pending|got|get|getting|being|charg\w*)|nothing (?:here|there|"
    r"came|arrived|happened)|(?<!nothing )(?<!ordered the )(?<!chose the )(?<!picked the )"
    r"(?<!entered the )(?<!typed the )wrong|nothing like|not what I ordered|looks nothing"
)
_BILLING = (
    r"charged (?:\w+ )?twice|double[- ]charged|twice|two identical|overcharg\w*|"
    r"billed (?:me )?(?:for|the full|twice)|unauthori[sz]ed|didn'?t (?:authori[sz]e|order|buy|"
    r"make|sign)|never (?:signed|ordered|bought|authori[sz]ed)|without (?:my )?permission|"
    r"hacked|locked out|someone (?:logged|changed|used)|someone else'?s|not me\b|debited|"
    r"so expensive|(?:didn'?t|never|did not) ask(?:ed)? for|"
    r"(?:more|higher) than (?:it should|quoted|advertised|agreed)"
)
_BROKEN_PROMISE = (
    r"although|even though|supposed to|was (?:promised|told)|were (?:promised|told)|"
    r"than advertised|(?<!online )(?<!working )(?<!works )(?<!up )(?<!back )again\b|already|"
    r"since (?:yesterday|last \w+|\w+day\b)|(?:for|since) ages|ages ago|"
    r"(?:third|fourth|fifth|\d+(?:st|nd|rd|th)) (?:time|email|"
    r"message|request)|(?:two|three|four|five|several|many|\d+) times|for (?:\d+|two|three|"
    r"four|five|several) (?:days|weeks|months)|(?:days|weeks) (?:ago|now)|it'?s been"
)
_FRUSTRATION = (
    r"annoy\w*|frustrat\w*|ridiculous|unacceptable|not acceptable|disappoint\w*|worst|"
    r"terrible|awful|horrible|useless|nightmare|fed up|sick of|seriously\b|"
    r"is (?:anyone|anybody)|what is going on|\?!|!!|\bwhy (?:is|does|do|did|was|are|am|"
    r"would|has|have|can'?t|won'?t|isn'?t)\b"
)
#: Complaint cues by kind: a message with any of them reports a problem.
COMPLAINT_CUES: dict[str, re.Pattern[str]] = {
    kind: re.compile(r"(?<!\w)(?:" + pattern + r")", re.IGNORECASE)
    for kind, pattern in (
        ("problem", _PROBLEM),
        ("delivery", _DELIVERY),
        ("billing", _BILLING),
        ("broken promise", _BROKEN_PROMISE),
        ("frustration", _FRUSTRATION),
    )
}
_ANGRY_EMOJI = re.compile("[\U0001f620\U0001f621\U0001f624\U0001f92c\U0001f44e\U0001f612]")
_SHOUTING = re.compile(r"\b[A-Z]{3,}\b(?:\W+\b[A-Z]{2,}\b){2,}")  # three capitalised words

#: Praise and thanks: positive evidence that courtesy formulas are not.
PRAISE_CUES = re.compile(
    r"(?<!not )(?<!n't )(?<!never )(?<!\w)(?:"
    r"thanks? (?:you )?(?:so much |a lot |again )?for (?!nothing)|thanks? (?:you )?so much|"
    r"thanks a lot|many thanks|big thanks|appreciat\w*|love\b|loved|great|excellent|"
    r"amazing|awesome|fantastic|brilliant|perfect\w*|wonderful|impress\w*|happy|glad|"
    r"delighted|pleased|kudos|well done|good job|great job|rock\b|superb|outstanding|"
    r"flawless\w*|smooth|helpful|friendly|five stars|hats off|commend|saved my)",
    re.IGNORECASE,
)
_RESOLVED = re.compile(
    r"(?<!\w)(?:fixed|solved|sorted|resolved|(?:working|works|online|up) again|"
    r"works (?:great |perfectly |fine )?now|back in|back up|"
    r"(?:arrived|came) (?:safe|in perfect|early|a day)|"
    r"got (?:it|my \w+) back|all good|no (?:more )?(?:problems?|issues?))",
    re.IGNORECASE,
)
_THANKS = re.compile(r"\b(?:thanks|thank you|thx)\b", re.IGNORECASE)
_STRONG = 0.3  # a compound this far from zero speaks on its own


class SupportTone:
    """Scores one support message; VADER's analyser is loaded once per instance."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer: Any = SentimentIntensityAnalyzer()
        analyzer.lexicon = {w: v for w, v in analyzer.lexicon.items() if w not in FORMULA_WORDS}
        self._analyzer = analyzer

    def predict(self, text: str) -> dict[str, Any]:
        """``{score, label, complaint, cues}`` for one message."""
        adjusted = float(self._analyzer.polarity_scores(text)["compound"])
        cues = complaint_cues(text)
        praise = [m.group(0).lower() for m in PRAISE_CUES.finditer(text)]
        resolved = says_resolved(text)
        glad = adjusted > 0 or bool(praise) or bool(_THANKS.search(text))
        if cues and not (resolved and glad):
            label, score = "negative", min(adjusted, -0.3 - 0.1 * (min(len(cues), 3) - 1))
        elif praise or resolved or adjusted >= _STRONG:
            label, score = "positive", max(adjusted, _STRONG)
        elif adjusted <= -_STRONG:
            label, score = "negative", adjusted
        else:
            label, score = "neutral", min(max(adjusted, NEGATIVE_AT + 0.01), POSITIVE_AT - 0.01)
        assert label_of(score) == label
        return {
            "score": round(score, 4),
            "label": label,
            "complaint": label == "negative" and bool(cues),
            "cues": cues if label == "negative" else praise,
        }


_REQUEST_BEFORE = re.compile(
    r"(?:\b(?:be|get|gets|need|needs|want|wants|please|to|can|could|will|would|have)|"
    r"n'?t|not)\s+(?:\w+\s+)?$",
    re.IGNORECASE,
)


def says_resolved(text: str) -> bool:
    """Whether ``text`` says a problem got solved ("fixed", "sorted", "working again"), as
    opposed to asking for it ("can that be fixed", "I need this sorted")."""
    return any(
        not _REQUEST_BEFORE.search(text[max(0, m.start() - 20) : m.start()])
        for m in _RESOLVED.finditer(text)
    )


def complaint_cues(text: str) -> list[str]:
    """The complaint cues in ``text`` as ``kind: words`` (empty when it reports no problem)."""
    found = [
        f"{kind}: {match.group(0).lower()}"
        for kind, pattern in COMPLAINT_CUES.items()
        for match in [pattern.search(text)]
        if match
    ]
    if _ANGRY_EMOJI.search(text):
        found.append("frustration: angry emoji")
    if _SHOUTING.search(text):
        found.append("frustration: shouting")
    return found


def tone_scores() -> dict[str, float]:
    """Held-out accuracy and macro-F1 of :class:`SupportTone` on the support messages."""
    from podium.demo._artifacts import classification_scores
    from podium.demo.support import messages

    model = SupportTone()
    test = messages("test")
    return classification_scores(
        [r["sentiment"] for r in test], [model.predict(r["text"])["label"] for r in test]
    )


#: 90 more support messages labelled with their tone, written in varied styles (formal,
#: terse, shouting, sarcastic, non-native, emoji...) apart from the demo's data; the
#: ``split`` column keeps a third for development and two thirds held out (``test``).
TONE_DATA = Path(__file__).resolve().parent / "data" / "tone_messages.csv"


def tone_messages(split: str | None = None) -> list[dict[str, str]]:
    """The tone set's rows (``id, split, tone, style, text``); ``split``: dev, test, None."""
    rows = csv.DictReader(TONE_DATA.read_text(encoding="utf-8").splitlines(keepends=True))
    return [dict(r) for r in rows if split is None or r["split"] == split]


def compare_on_held_out() -> dict[str, dict[str, dict[str, float]]]:
    """VADER alone against :class:`SupportTone` on both held-out sets: the demo's support
    messages (``split == "test"``) and the tone set's ``test`` split."""
    from podium.demo._artifacts import classification_scores
    from podium.demo.sentiment import VaderSentiment
    from podium.demo.support import messages

    sets = {
        "support messages": [(r["text"], r["sentiment"]) for r in messages("test")],
        "tone set": [(r["text"], r["tone"]) for r in tone_messages("test")],
    }
    models: dict[str, Any] = {"vader-sentiment": VaderSentiment(), "support-tone": SupportTone()}
    return {
        name: {
            model_name: classification_scores(
                [label for _, label in rows], [model.predict(text)["label"] for text, _ in rows]
            )
            for model_name, model in models.items()
        }
        for name, rows in sets.items()
    }
