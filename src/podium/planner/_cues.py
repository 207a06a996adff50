"""What a clause's words say beyond its task: the cues :mod:`podium.planner._parse` reads.

A clause is matched against the tools by the words that say what is to be done (its
*task*), not by the words that name its inputs: the literals it names (``'example.wav'``,
a quoted prompt) and the earlier results it refers to ("the cleaned audio", "the
paraphrased text") say what the step reads, so the task text drops them (a literal after
the noun that introduces it, "the photo 'example.png'", leaves the noun; elsewhere it
reads "it") and the media kinds they stand for become the clause's *sources*. What the
clause asks to make ("into speech", "create a short video", "a description") is its
*targets*. The planner uses sources and targets to check a tool's types, not to choose
it by them.

A *context* clause asks for nothing: it says what the user has ("I have a photo
'example.jpg' of a street", "Here are 'a.jpg' and 'b.jpg'") or introduces an input for
the clause after it ("Using the generated image, ...", "For 'example.jpg', ...").

Pure string work over masked text (literals replaced by ``\\x00N\\x00`` slots).
"""

from __future__ import annotations

import re

from podium.planner._text import STOPWORDS

SLOT = re.compile(r"\x00(\d+)\x00")


def _split(words: str) -> tuple[str, ...]:
    return tuple(words.split())


_QUOTES = "'\"\u201c\u201d\u2018\u2019"

NOUN_KIND: dict[str, str] = {
    **dict.fromkeys(
        _split(
            "image images photo photos picture pictures pic pics selfie screenshot screenshots "
            "frame frames drawing painting poster panorama collage map mask spectrogram "
            "waveform thumbnail illustration artwork"
        ),
        "image",
    ),
    **dict.fromkeys(
        _split(
            "audio recording recordings sound sounds song songs voice speech podcast track "
            "memo narration soundtrack voiceover voice-over"
        ),
        "audio",
    ),
    **dict.fromkeys(_split("video videos clip clips movie movies footage film films"), "video"),
    **dict.fromkeys(
        _split(
            "text texts sentence sentences article articles passage paragraph paragraphs "
            "document documents story stories message review essay words caption captions "
            "transcript transcription summary translation description descriptions answer "
            "poem list keywords topics labels label category version result results output "
            "outputs content script subtitles"
        ),
        "text",
    ),
}
# nouns that name an earlier result when "the", "that", "its"... precede them
_RESULT_NOUNS = (
    "transcript|transcription|caption|captions|summary|translation|description|answer"
    "|result|results|output|outputs|objects|version|text|image|images|picture|pictures"
    "|photo|photos|audio|recording|video|speech|clip|screenshot|frame|labels|label"
    "|category|keywords|article|story|poem|paragraph|list|topics|links|content|map|mask"
    "|file|track"
)
_ADJ = (
    r"(?:resulting|generated|edited|new|combined|corrected|translated|rewritten|cleaned"
    r"|clean|final|above|same|previous|first|second|\w+ed|\w+en)"
)
# "the cleaned audio", "that description", "the paraphrased text"; not "the photo
# 'example.png'" (the noun introduces the literal that follows it)
BACK = re.compile(
    rf"\b(?:the|that|this|these|those)\s+(?:{_ADJ}\s+){{0,2}}({_RESULT_NOUNS})\b"
    rf"(?!\s*(?:called|named|titled|at|from|in|on|:)?\s*[{_QUOTES}]?\x00)",
    re.IGNORECASE,
)
# quote marks left around a literal that was dropped (not an apostrophe: "what's")
_STRAY_QUOTE = re.compile(r"[\"\u201c\u201d]|(?<!\w)['\u2018\u2019]|['\u2018\u2019](?!\w)")
_PRONOUN = re.compile(
    r"\b(?:it|its|them|they|their|both|all of them|each one|there|the same|that (?:day|date"
    r"|time|place|city))\b",
    re.IGNORECASE,
)

_PERSONAL = re.compile(
    r"^(?:(?:hi|hello|hey|so|ok|okay|well|now)\b[\s,!]*)*"
    r"(?:i(?:'ve| have)(?!\s+to\b)(?:\s+got)?|i got|here(?:'s| is| are)|there(?:'s| is| are)"
    r"|this is|these are|attached (?:is|are)|my \w+(?: \w+)?(?: \S+)? (?:is|are|was|were)\b"
    r"|i(?:'m| am) (?!going\b|trying\b)\w+ing|i (?:recorded|took|made|wrote|shot|found"
    r"|received|downloaded|saved|scanned|captured|filmed|drew|bought|own))\b",
    re.IGNORECASE,
)
# words of greeting, thanks and filler: a clause of nothing else asks for nothing
_SOCIAL = frozenset(
    _split(
        "hi hello hey dear thanks thank lot much ok okay yes no sure great cheers ugh oh well "
        "sorry assistant honestly really basically anyway hmm there d ll ve m re"
    )
)
_LEAD = re.compile(
    r"^(?:for|using|with|given|based on|from|in|on|regarding|about|as for)\b", re.IGNORECASE
)
_ASK = re.compile(
    r"\b(?:want|need|would like|'d like|'d love|would love|please|could you|can you"
    r"|help me|let me|tell me|show me|give me)\b",
    re.IGNORECASE,
)
_DETERMINER = re.compile(r"^(?:a|an|the|some|my|its|their|his|her|your|our|one)\b", re.IGNORECASE)
# words after which the next noun names what is made: "create a short video", "into
# speech", "a description"; not after "add", "apply"... ("add a voice-over to the video"
# makes a video)
_MAKES = frozenset(
    _split(
        "generate generates create make produce render synthesize synthesise draw compose write "
        "paint into to as a an some"
    )
)
_INDEFINITE = frozenset({"a", "an", "some"})
_SENSE = {"hear": "audio", "listen": "audio", "aloud": "audio", "write": "text"}
_ATTACH = frozenset(_split("add adds apply applies insert put attach include overlay"))
_STOP_AT = frozenset(_split("of from with about for in on at that which and or by"))
_WORD = re.compile(r"[a-z0-9']+")
_BARE = re.compile(r"[a-z0-9]+")
_POLITE = re.compile(
    r"^(?:(?:hi|hello|hey|so|ok|okay|well|and|but|now|then|honestly|also|first|firstly"
    r"|finally|lastly|next)\b[\s,!]*)*"
    r"(?:(?:could|can|would|will) you(?: please)?|please|kindly|i(?:'d| would) (?:like|love)"
    r"(?: you)? to|i (?:want|need)(?: you)? to|help me|i'd like|i want|i need|let's|let me)?"
    r"\s*(?:please\s+)?",
    re.IGNORECASE,
)


def context_kind(masked: str) -> str | None:
    """``personal`` ("I have a photo ..."), ``lead`` ("Using the generated image", "For
    'x.jpg'": an input for the clause after it), ``social`` ("Hi there!", "Thanks a
    lot") or ``None`` (the clause asks something)."""
    text = masked.strip()
    if _PERSONAL.match(text) and not _ASK.search(text):
        return "personal"
    m = _LEAD.match(text)
    if m is None:
        words = [w for w in _BARE.findall(SLOT.sub(" ", text).lower()) if w not in STOPWORDS]
        return "social" if all(w in _SOCIAL for w in words) else None
    rest = BACK.sub(" ", SLOT.sub(" ", text[m.end() :])).lower()
    own = [
        w
        for w in _BARE.findall(rest)
        if w not in STOPWORDS and w not in NOUN_KIND and not w.isdigit() and w != "file"
    ]
    return "lead" if not own else None


def content_words(masked: str) -> int:
    """How many words of its own a piece has (beyond literals, stop words, greetings and
    the names of media)."""
    words = _BARE.findall(SLOT.sub(" ", masked).lower())
    return sum(
        w not in STOPWORDS and w not in _SOCIAL and w not in NOUN_KIND and not w.isdigit()
        for w in words
    )


def back_kinds(masked: str) -> list[str]:
    """The media kinds of the earlier results ``masked`` refers to by name."""
    return [NOUN_KIND.get(m.group(1).lower(), "text") for m in BACK.finditer(masked)]


def refers(masked: str) -> bool:
    """Whether the clause refers back to an earlier result (by pronoun or by name)."""
    bare = SLOT.sub(" ", masked)
    return bool(BACK.search(masked) or _PRONOUN.search(bare))


def task_text(masked: str, describe: list[str], drop: list[bool], *, plain: bool = False) -> str:
    """The words that say what is to be done: back references read "it" (``plain``: "the"
    and their noun, as when nothing earlier made such a thing and the noun names what is
    to be made); a literal that follows its noun is dropped, elsewhere it reads
    ``describe[i]`` (``drop[i]``: a file or quote, which reads "it")."""
    text = BACK.sub(lambda m: f"the {m.group(1)}" if plain else "it", masked)

    def slot(m: re.Match[str]) -> str:
        i = int(m.group(1))
        if i >= len(describe):
            return " "
        if not drop[i]:
            return f" {describe[i]} "
        before = _BARE.findall(text[: m.start()].lower()[-40:])
        return " " if before and before[-1] in NOUN_KIND else " it "

    text = SLOT.sub(slot, text)
    text = _STRAY_QUOTE.sub(" ", text)
    text = re.sub(r"\(\s*\)", " ", text)
    return " ".join(text.split()).strip(" ,:;-")


def strip_polite(text: str) -> str:
    """``text`` without leading greetings and politeness ("could you please ...")."""
    return _POLITE.sub("", text).strip()


def targets(task: str) -> list[str]:
    """Media kinds the clause asks to make: "into speech", "create a short video", "a
    description" (the first noun with a kind within four words of such a word); what it
    asks to hear is audio, what it asks to write down is text."""
    words = _WORD.findall(task.lower())
    found = [kind for w in words if (kind := _SENSE.get(w))]
    for i, w in enumerate(words):
        if w not in _MAKES or (w in _INDEFINITE and i and words[i - 1] in _ATTACH):
            continue
        for nxt in words[i + 1 : i + 5]:
            if nxt in _STOP_AT:
                break
            kind = NOUN_KIND.get(nxt)
            if kind:
                found.append(kind)
                break
    return list(dict.fromkeys(found))


LANGUAGES = frozenset(
    _split(
        "english french spanish german italian portuguese dutch russian chinese mandarin "
        "cantonese japanese korean arabic hindi bengali urdu turkish greek polish swedish "
        "norwegian danish finnish czech hungarian romanian ukrainian hebrew persian farsi "
        "thai vietnamese indonesian malay swahili tagalog catalan croatian serbian "
        "bulgarian slovak latin irish welsh"
    )
)
_LANGUAGE = re.compile(r"\b(?:in|into|to)\s+(?:plain\s+|simple\s+)?([A-Z][a-z]+)\b")


def aside(task: str) -> str:
    """What a clause asks besides its task: "what they are saying in Spanish" also asks
    for a translation into Spanish (``""`` when it asks nothing besides, or when the
    translation is its task)."""
    if "translat" in task.lower():
        return ""
    for m in _LANGUAGE.finditer(task):
        if m.group(1).lower() in LANGUAGES:
            return f"translate it into {m.group(1)}"
    return ""


def verb(task: str) -> str | None:
    """The clause's leading verb (its first word after politeness, unless that word is a
    determiner or pronoun)."""
    words = strip_polite(task).split()
    if not words:
        return None
    first = words[0].lower()
    if _DETERMINER.match(first) or first in STOPWORDS - {"get", "give", "make", "use"}:
        return None
    return words[0]


def verbless(masked: str) -> bool:
    """Whether a piece opens with a determiner (no verb: "... and the audio at URL")."""
    return bool(_DETERMINER.match(masked.strip()))
