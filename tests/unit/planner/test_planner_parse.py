"""Reading a request: named inputs kept whole, clauses in the order they run."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from podium.planner._parse import EXTENSIONS, literals, parse


def _clauses(text: str) -> list[tuple[str, str]]:
    return [(c.link, c.text) for c in parse(text).clauses]


def test_file_names_urls_and_quotes_are_named_and_kept_whole() -> None:
    parsed = parse(
        "Classify the image 'example.jpg'. Then read https://a.example/x.png, and 'Hi. Then bye.'"
    )
    kinds = [(n.kind, n.value, n.modality) for n in parsed.named]
    assert kinds == [
        ("file", "example.jpg", "image"),
        ("url", "https://a.example/x.png", None),
        ("quote", "Hi. Then bye.", "text"),
    ]
    assert [c.text for c in parsed.clauses] == [
        "Classify the image 'example.jpg'",
        "read https://a.example/x.png and 'Hi. Then bye.'",
    ]
    named = parse("caption example.jpg, then translate it").named
    assert [(n.text, n.modality) for n in named] == [("example.jpg", "image")]


def test_apostrophes_are_not_quotes_and_numbers_are_not_sentence_ends() -> None:
    parsed = parse("Book Luigi's for 8.30 pm, then don't forget the 2.5 kg order")
    assert [n.text for n in parsed.named] == ["8.30", "2.5"]
    assert _clauses("Book Luigi's for 8.30 pm, then don't forget the 2.5 kg order") == [
        ("start", "Book Luigi's for 8.30 pm"),
        ("seq", "don't forget the 2.5 kg order"),
    ]


def test_connectives_say_how_each_clause_follows() -> None:
    assert _clauses("Transcribe a.wav, translate it and finally read the translation aloud") == [
        ("start", "Transcribe a.wav"),
        ("and", "translate it"),
        ("seq", "read the translation aloud"),
    ]
    assert [c.link for c in parse("Caption x.jpg and also detect the objects.").clauses] == [
        "start",
        "par",
    ]
    assert [c.link for c in parse("Get the weather. Then e-mail Bob.").clauses] == [
        "start",
        "seq",
    ]


def test_after_and_before_are_put_in_the_order_things_happen() -> None:
    assert [t for _, t in _clauses("send an email after you check the weather")] == [
        "you check the weather",
        "send an email",
    ]
    assert _clauses("Before translating it, summarize the text")[0][1] == "summarize the text"
    assert _clauses("After you check the weather, send an email") == [
        ("start", "you check the weather"),
        ("seq", "send an email"),
    ]


def test_back_references_are_seen_and_read_as_what_they_stand_for() -> None:
    clauses = parse("Transcribe talk.wav, then summarize the transcript").clauses
    assert [c.refers for c in clauses] == [False, True]
    assert clauses[1].words == "summarize the text"
    assert parse("describe the resulting image").clauses[0].words == "describe the image"
    assert clauses[0].words == "Transcribe audio file"
    assert clauses[0].modalities == ("audio",)


def test_a_piece_with_no_words_of_its_own_joins_the_clause_before() -> None:
    clauses = parse("Download https://e.com/a.jpg and https://e.com/b.jpg and stitch them").clauses
    assert [len(c.named) for c in clauses] == [2, 0]
    assert (
        parse("How similar are 'a b' and 'c d'?").clauses[0].text
        == "How similar are 'a b' and 'c d'"
    )


def test_empty_and_odd_text() -> None:
    assert parse("").clauses == ()
    assert parse("   ").named == ()
    assert parse("'").clauses[0].text == "'"
    assert parse("x" * 50_000).text == "x" * 20_000


WORD = st.sampled_from(
    [
        "the",
        "image",
        "and",
        "then",
        "it",
        "after",
        "before",
        "also",
        "caption",
        "translate",
        ",",
        ".",
        ";",
        "!",
        "?",
        ":",
        "'tis",
        "don't",
        "3.5",
        "x",
    ]
)
FILE = st.builds(
    lambda stem, ext: f"{stem}.{ext}",
    st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
    st.sampled_from(sorted(EXTENSIONS)),
)
QUOTED = st.lists(
    st.sampled_from(["a", "b.c", "then", "and", ",", ";", ".", "!", "?", "x:y", "after", "it"]),
    min_size=1,
    max_size=8,
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_parse_never_fails_on_any_text(text: str) -> None:
    parsed = parse(text)
    for clause in parsed.clauses:
        assert clause.link in ("start", "and", "par", "seq")
        assert all(n in parsed.named for n in clause.named)


@settings(max_examples=150, deadline=None)
@given(st.lists(WORD, max_size=8), FILE, st.lists(WORD, max_size=8))
def test_a_file_name_is_never_split(before: list[str], name: str, after: list[str]) -> None:
    text = " ".join([*before, name, *after])
    parsed = parse(text)
    files = [n for n in parsed.named if n.kind == "file"]
    assert [n.text for n in files] == [name]
    assert files[0].modality == EXTENSIONS[name.rsplit(".", 1)[1]]
    holders = [c for c in parsed.clauses if name in c.text]
    assert len(holders) == 1 and files[0] in holders[0].named


@settings(max_examples=150, deadline=None)
@given(st.lists(WORD, max_size=6), FILE, st.booleans())
def test_a_quoted_file_name_is_the_file(before: list[str], name: str, double: bool) -> None:
    quote = '"' if double else "'"
    before = [w for w in before if "'" not in w]  # "'tis 'a.jpg'" is one quotation
    parsed = parse(" ".join([*before, f"{quote}{name}{quote}", "then", "caption", "it"]))
    files = [n for n in parsed.named if n.kind == "file"]
    assert [n.text for n in files] == [name]
    assert any(files[0] in c.named for c in parsed.clauses)


@settings(max_examples=150, deadline=None)
@given(st.lists(WORD, max_size=6), QUOTED, st.lists(WORD, max_size=6))
def test_a_quoted_string_is_never_split(before: list[str], body: str, after: list[str]) -> None:
    before = [w for w in before if "'" not in w]
    after = [w for w in after if "'" not in w]
    quoted = f"'{body}'"
    text = " ".join([*before, quoted, *after])
    assert quoted in [n.text for n in literals(text)]
    assert any(quoted in c.text for c in parse(text).clauses)
