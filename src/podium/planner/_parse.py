"""Reading a request: what the user names, and the clauses it asks in, in order.

:func:`parse` finds the inputs a request names — URLs, e-mail addresses, file names (with
a media kind from the extension), quoted text and numbers — and keeps each whole, so a
clause is never cut at the dot of ``example.jpg`` or inside ``'Hello, world.'``. The rest
is cut into clauses at sentence ends, commas and connectives, each with how it joins the
one before: ``seq`` ("then", "after that", "and finally", "next", a sentence that opens
with "then"), ``and`` ("and", a comma, "also", a new sentence) — and "X after Y" or
"before Y, X" are put back in the order they happen. A clause that refers back ("it",
"them", "the result", "the transcript", "the resulting image") says so in ``refers``.

Everything here is pure string work over bounded input; it never raises on any text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from podium.planner import _cues
from podium.planner._text import STOPWORDS

MAX_CHARS = 20_000

_KINDS = {
    "image": "jpg jpeg png gif bmp tif tiff webp heic svg ico raw",
    "audio": "wav mp3 flac ogg m4a aac wma aiff opus mid midi",
    "video": "mp4 avi mov mkv webm wmv flv m4v mpeg mpg 3gp",
    "text": "txt md pdf doc docx rtf csv json html htm xml odt ppt pptx xls xlsx srt",
}
EXTENSIONS: dict[str, str] = {ext: kind for kind, exts in _KINDS.items() for ext in exts.split()}
MODALITY_WORDS: dict[str, tuple[str, ...]] = {
    "image": (
        "image",
        "images",
        "photo",
        "photos",
        "picture",
        "pictures",
        "pic",
        "selfie",
        "frame",
        "scan",
        "drawing",
        "painting",
        "poster",
        "screenshot",
        "panorama",
    ),
    "audio": (
        "audio",
        "recording",
        "sound",
        "song",
        "music",
        "voice",
        "speech",
        "podcast",
        "track",
        "clip",
        "memo",
        "narration",
        "soundtrack",
    ),
    "video": ("video", "videos", "clip", "movie", "footage", "film"),
    "text": (
        "text",
        "sentence",
        "article",
        "passage",
        "paragraph",
        "document",
        "story",
        "message",
        "review",
        "essay",
        "words",
        "caption",
        "transcript",
        "summary",
    ),
}

_URL = r"(?:https?://|www\.)[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]"
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_FILE = (
    r"(?<![\w/.])[\w-]+(?:\.[\w-]+)*\.(?:"
    + "|".join(sorted(EXTENSIONS, key=len, reverse=True))
    + r")\b"
)
_NUMBER = r"(?<![\w.])[-+]?\d+(?:[.,:/-]\d+)*(?:\s?%)?"
_QUOTE = (
    r"(?<![\w])'(?=\S)(?:[^'\n]|'(?=\w))*?(?<=\S)'(?!\w)"
    r'|"[^"\n]*"|\u201c[^\u201d\n]*\u201d|\u2018[^\u2019\n]*\u2019|\u00ab[^\u00bb\n]*\u00bb'
)
_LITERAL = re.compile(
    rf"(?P<url>{_URL})|(?P<email>{_EMAIL})|(?P<quote>{_QUOTE})|(?P<file>{_FILE})"
    rf"|(?P<number>{_NUMBER})",
    re.IGNORECASE,
)
_SLOT = re.compile(r"\x00(\d+)\x00")

_SEQ = (
    r"and then|, then|then|after that|after which|afterwards|afterward|and finally|finally"
    r"|lastly|next|followed by|subsequently|and later|later"
)
_PAR = r"and also|also|as well as|plus|in addition|additionally|meanwhile"
_JOIN = re.compile(
    rf"\s*(?:(?P<seq>\b(?:{_SEQ})\b)|(?P<par>\b(?:{_PAR})\b)|(?P<and>\band\b|&|\+|,)"
    r"|(?P<after>\bafter\b|\bonce\b)|(?P<before>\bbefore\b)|(?P<dash>\s[-\u2013\u2014]+\s|\u2014))\s*",
    re.IGNORECASE,
)
# a sentence ends at . ! ? ; (not after a title or an abbreviation such as "Dr." or "e.g.")
_SENTENCE = re.compile(
    r"(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bMrs\.)(?<!\bSt\.)(?<!\bProf\.)(?<!\be\.g\.)"
    r"(?<!\bi\.e\.)(?<!\betc\.)(?<!\bvs\.)(?<=[.!?;])\s+|\n+|[.!?;]+$"
)
_LEAD = re.compile(r"^(?:first(?:ly)?|to start|to begin|please|then|now)\b[\s,]*", re.IGNORECASE)
_REFERS = re.compile(
    r"\b(?:it|its|them|they|this|that|these|those|both|all of them|the (?:result|results|output"
    r"|outputs|answer|transcript|transcription|caption|captions|summary|translation|description"
    r"|text|status|trip|amount|audio|video|image|picture|photo|recording|file|one|ones)"
    r"|the (?:resulting|generated|edited|new|combined|corrected|translated|rewritten|cleaned"
    r"|clean|stabilized|stabilised|processed|extracted|converted|enhanced|final|above"
    r"|detected|created|downloaded|same)\b)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z0-9]+")
_ALSO = re.compile(r"^(?:\S+\s+){0,4}?(?:also|as well)\b", re.IGNORECASE)
# "the transcript", "the resulting image": a result of an earlier step, not a task
_BACK = re.compile(
    r"\b(the|that|this|its)\s+(?:(?:resulting|generated|edited|new|combined|corrected|translated"
    r"|rewritten|cleaned|clean|stabilized|stabilised|processed|extracted|converted|enhanced"
    r"|final|detected|created|downloaded|same)\s+)?"
    r"(transcript|transcription|caption|captions|summary|translation|description|answer"
    r"|result|results|output|objects|version|text|image|picture|photo|audio|recording|video)\b",
    re.IGNORECASE,
)
_BACK_KIND = {
    **dict.fromkeys(("image", "picture", "photo"), "image"),
    **dict.fromkeys(("audio", "recording"), "audio"),
    "video": "video",
}
_THEN = re.compile(r"^(?:then|after that|afterwards|finally|next|lastly)\b", re.IGNORECASE)


HEAD_WORDS = 4
_POLITE = re.compile(
    r"^(?:(?:hi|hello|hey|so|ok|okay|well|and|but|now|then|honestly|also)\b[\s,!]*)*"
    r"(?:(?:could|can|would|will) you(?: please)?|please|kindly|i(?:'d| would) (?:like|love)"
    r"(?: you)? to|i (?:want|need)(?: you)? to|help me|i'd like|i want|i need|let's|let me)?\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Named:
    """Something the request names: ``kind`` is url, email, file, quote or number;
    ``modality`` is image, audio, video or text where the kind or extension says so."""

    kind: str
    text: str
    modality: str | None
    start: int
    end: int

    @property
    def value(self) -> str:
        """The literal (a quoted string without its quotes)."""
        if self.kind == "quote" and len(self.text) >= 2:
            return self.text[1:-1]
        return self.text


@dataclass(frozen=True)
class Clause:
    """One thing the request asks, as written (``text``), as words (``words``: each named
    literal replaced by what it is, such as "image file") and as the words that say what
    is to be done (``task``: without the literals and earlier results it reads, see
    :mod:`podium.planner._cues`; ``plain``: the same with the nouns of its references
    back, "the image"). ``sources``: media kinds of the literals it reads; ``back``: kinds
    of the earlier results it names ("the cleaned audio"); ``targets``: kinds it asks to
    make; ``context``: ``personal`` or ``lead`` for a
    clause that asks nothing (its inputs go to the request, or to the clause after it);
    ``background``: what the user said just before ("I have a sore throat"); ``aside``:
    what it asks besides its task ("translate it into Spanish")."""

    text: str
    words: str
    named: tuple[Named, ...]
    link: str
    refers: bool
    sentence: int
    position: int
    task: str = ""
    plain: str = ""
    back: tuple[str, ...] = ()
    context: str = ""
    sources: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    background: str = ""
    aside: str = ""

    @property
    def head(self) -> str:
        """The clause's first words after any politeness: what it asks to be done."""
        return " ".join(_cues.strip_polite(self.task or self.words).split()[:HEAD_WORDS])

    @property
    def modalities(self) -> tuple[str, ...]:
        """Media kinds the clause names or speaks of (its literals first)."""
        found = [n.modality for n in self.named if n.modality]
        words = set(_WORD.findall(self.words.lower()))
        for kind, nouns in MODALITY_WORDS.items():
            if words.intersection(nouns):
                found.append(kind)
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class Parsed:
    """A request read: its named inputs in order and its clauses in the order they run."""

    text: str
    named: tuple[Named, ...]
    clauses: tuple[Clause, ...]


def _modality(kind: str, text: str) -> str | None:
    if kind == "file":
        return EXTENSIONS.get(text.rsplit(".", 1)[-1].lower())
    if kind == "quote":
        return "text"
    return None


_QUOTED_FILE = re.compile(_FILE, re.IGNORECASE)
_QUOTED_URL = re.compile(_URL, re.IGNORECASE)
_QUOTED_EMAIL = re.compile(_EMAIL, re.IGNORECASE)


def literals(text: str) -> list[Named]:
    """The literals of ``text``, left to right, none overlapping."""
    found: list[Named] = []
    for m in _LITERAL.finditer(text):
        kind = m.lastgroup or "quote"
        value = m.group(0)
        if kind == "quote" and len(value) <= 2:
            continue
        inner = value[1:-1].strip()
        quoted = (
            next(
                (
                    k
                    for k, p in (
                        ("file", _QUOTED_FILE),
                        ("url", _QUOTED_URL),
                        ("email", _QUOTED_EMAIL),
                    )
                    if p.fullmatch(inner)
                ),
                None,
            )
            if kind == "quote"
            else None
        )
        if quoted:
            # 'example.jpg', 'https://e.com/a.mp4': a file name or URL in quotes is itself
            start = m.start() + 1 + value[1:-1].index(inner)
            found.append(Named(quoted, inner, _modality(quoted, inner), start, start + len(inner)))
            continue
        found.append(Named(kind, value, _modality(kind, value), m.start(), m.end()))
    return found


_DESCRIBE = {"url": "link", "email": "e-mail address", "number": "number", "quote": "text"}


def url_kind(named: Named) -> str | None:
    """The media kind a URL points to, from the extension of its path."""
    if named.kind != "url":
        return None
    path = named.text.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    tail = path.rsplit("/", 1)[-1]
    kind = EXTENSIONS.get(tail.rsplit(".", 1)[-1].lower()) if "." in tail else None
    return kind if kind in ("image", "audio", "video") else None


def _words_for(named: Named) -> str:
    if named.kind == "file":
        return f"{named.modality or 'text'} file"
    pointed = url_kind(named)
    if pointed:
        return f"{pointed} link"
    return _DESCRIBE.get(named.kind, "text")


def _content(masked: str) -> bool:
    """Whether a piece has a word of its own (beyond literals, earlier results it names
    and stop words): "... how similar the transcript and the caption are" is one piece."""
    bare = _SLOT.sub(" ", _cues.BACK.sub(" ", masked)).lower()
    return any(w not in STOPWORDS and not w.isdigit() for w in _WORD.findall(bare))


def _pieces(sentence: str) -> list[tuple[str, str, str]]:
    """A masked sentence cut at connectives: (how it joins the piece before, piece, the
    connective's own text)."""
    out: list[tuple[str, str, str]] = []
    link, joiner, last = "start", "", 0
    for m in _JOIN.finditer(sentence):
        piece = sentence[last : m.start()].strip()
        kind = m.lastgroup or "and"
        if not piece.strip(" ,"):
            link = _stronger(link, kind)
            joiner = (joiner + " " + m.group(0).strip()).strip()
            last = m.end()
            continue
        out.append((link, piece, joiner))
        link, joiner, last = kind, m.group(0).strip(), m.end()
    out.append((link, sentence[last:].strip(), joiner))
    return [(k, p, j) for k, p, j in out if p.strip(" ,")] or [("start", sentence, "")]


_RANK = {"start": 0, "and": 1, "par": 2, "after": 3, "before": 3, "seq": 4}


def _stronger(a: str, b: str) -> str:
    return a if _RANK.get(a, 0) >= _RANK.get(b, 0) else b


def parse(text: str) -> Parsed:
    """Read ``text`` (cut to :data:`MAX_CHARS`) into named inputs and ordered clauses."""
    text = " ".join(str(text)[:MAX_CHARS].split())
    named = literals(text)
    masked, cursor = [], 0
    for i, n in enumerate(named):
        masked.append(text[cursor : n.start].replace("\x00", " "))
        masked.append(f"\x00{i}\x00")
        cursor = n.end
    masked.append(text[cursor:].replace("\x00", " "))
    body = "".join(masked)
    raw: list[tuple[str, Any, str, int]] = []
    for s_index, (found, asked) in enumerate(_sentences(body)):
        sentence = found.strip().rstrip(".!?;").strip()
        lead = "seq" if _THEN.match(sentence) else None
        pieces = _pieces(_LEAD.sub("", sentence))
        for k, (joined, piece, joiner) in enumerate(pieces):
            link = joined
            if k == 0 and link == "start":
                link = lead or ("start" if s_index == 0 else "and")
            if link == "and" and _ALSO.search(piece):
                link = "par"
            raw.append((link, (piece, asked and k == len(pieces) - 1), joiner, s_index))
    merged: list[tuple[str, Any, str, int]] = []
    for link, (piece, asked), joiner, s_index in raw:
        if merged and not _content(piece) and link in ("and", "par", "dash"):
            prev = merged[-1]
            both = (f"{prev[1][0]} and {piece}", prev[1][1] or asked)
            merged[-1] = (prev[0], both, prev[2], prev[3])
        else:
            merged.append((link if link != "dash" else "and", (piece, asked), joiner, s_index))
    return Parsed(text, tuple(named), tuple(_clauses(_reorder(merged), named)))


def _clauses(ordered: list[tuple[str, Any, int]], named: list[Named]) -> list[Clause]:
    """Clauses from the ordered pieces: words, task, sources and targets, context; a
    context clause's inputs go to the clause after it, and a piece with no verb of its
    own ("... and the audio at URL") takes the verb of the clause before."""
    describe = [_words_for(n) for n in named]
    drop = [n.kind in ("file", "quote") for n in named]
    clauses: list[Clause] = []
    carried: list[Named] = []
    carried_kinds: list[str] = []
    background = ""
    last_verb: str | None = None
    for position, (link, (piece, asked), s_index) in enumerate(ordered):
        slots = [int(m.group(1)) for m in _SLOT.finditer(piece)]
        own = tuple(named[i] for i in slots if i < len(named))
        plain = _SLOT.sub(lambda m: named[int(m.group(1))].text, piece)
        words = _SLOT.sub(lambda m: _words_for(named[int(m.group(1))]), piece)
        words = _BACK.sub(lambda m: "the " + _BACK_KIND.get(m.group(2).lower(), "text"), words)
        context = _cues.context_kind(piece) or ""
        same = bool(clauses) and clauses[-1].sentence == s_index
        previous = clauses[-1].context if same else ""
        if not context and previous in ("personal", "social") and link == "and":
            # "My photo is blurry and dark": a word or two more of what the user says
            context = previous if _cues.content_words(piece) <= 1 else ""
        asks = " ?" if asked else ""
        task = _cues.task_text(piece, describe, drop) + asks
        plain_task = _cues.task_text(piece, describe, drop, plain=True) + asks
        kinds = [_modality(n.kind, n.text) or "text" for n in own]
        back = _cues.back_kinds(piece)
        refers = _cues.refers(piece) or bool(carried_kinds)
        if context == "lead":
            carried.extend(own)
            carried_kinds.extend(kinds + back)
        elif not context:
            if _cues.verbless(piece) and link in ("and", "par") and last_verb:
                task, words = f"{last_verb} {task}", f"{last_verb} {words}"
                plain_task = f"{last_verb} {plain_task}"
            last_verb = _cues.verb(task) or last_verb
        targets = _cues.targets(task) + [k for n in own if (k := url_kind(n))]
        clause = Clause(
            plain,
            words,
            own if context else tuple(carried) + own,
            link,
            refers,
            s_index,
            position,
            task=task,
            plain=plain_task,
            back=tuple(back),
            context=context,
            sources=tuple(dict.fromkeys(kinds if context else carried_kinds + kinds)),
            targets=tuple(dict.fromkeys(targets)),
            aside="" if context else _cues.aside(task),
            background="" if context else background,
        )
        if not context:
            carried, carried_kinds = [], []
        background = _cues.task_text(piece, describe, drop) if context == "personal" else ""
        clauses.append(clause)
    return clauses


def _sentences(body: str) -> list[tuple[str, bool]]:
    """The sentences of ``body``, each with whether it asks a question (ends in "?")."""
    found: list[tuple[str, bool]] = []
    last = 0
    for m in [*_SENTENCE.finditer(body), None]:
        end = len(body) if m is None else m.start()
        sentence = body[last:end]
        asked = sentence.rstrip().endswith("?") or (m is not None and "?" in m.group(0))
        if sentence.strip():
            found.append((sentence, asked))
        if m is not None:
            last = m.end()
    return found


def _reorder(pieces: list[tuple[str, Any, str, int]]) -> list[tuple[str, Any, int]]:
    """Put the pieces in the order they happen, each joined by how it follows the one
    before: "X after Y" becomes Y, X; "before Y, X" becomes X, Y; "once Y, X" and
    "after Y, X" stay, with X following Y."""
    out: list[list[Any]] = [[link, piece, s] for link, piece, _, s in pieces]
    joiners = [j for _, _, j, _ in pieces]
    k = 0
    while k < len(out):
        link, _, s = out[k]
        leading = k + 1 < len(out) and out[k + 1][2] == s and joiners[k + 1] == ","
        after_prev = k > 0 and out[k - 1][2] == s
        if link == "after" and not leading and after_prev:
            out[k - 1][1], out[k][1] = out[k][1], out[k - 1][1]
            out[k][0] = "seq"
        elif link == "before" and leading:
            out[k][1], out[k + 1][1] = out[k + 1][1], out[k][1]
            out[k][0], out[k + 1][0] = "and" if k else "start", "seq"
            k += 1
        elif link in ("after", "before"):
            out[k][0] = "and" if k else "start"
            if link == "after" and k + 1 < len(out):
                out[k + 1][0] = "seq"
            elif link == "before":
                out[k][0] = "seq"
        k += 1
    return [(str(a), b, int(c)) for a, b, c in out]
