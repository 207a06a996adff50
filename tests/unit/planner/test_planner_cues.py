"""What a clause's words say beyond its task: context, task text, sources and targets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from podium.planner._cues import aside, context_kind, targets, task_text
from podium.planner._parse import parse


def _read(text: str) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    return [(c.task, c.context, c.sources, c.targets) for c in parse(text).clauses]


def test_what_the_user_has_and_greetings_ask_for_nothing() -> None:
    assert context_kind("I have an image \x000\x00 of a street") == "personal"
    assert context_kind("I have to send it") is None
    assert context_kind("Here are \x000\x00 and \x001\x00") == "personal"
    assert context_kind("Hi there") == "social"
    assert context_kind("Using the generated image") == "lead"
    assert context_kind("For '\x000\x00'") == "lead"
    assert context_kind("Using the generated image, answer the question") is None
    clauses = parse("I have a photo 'example.jpg' of a street. Please detect the cars in it.")
    assert [c.context for c in clauses.clauses] == ["personal", ""]
    # a word or two more of what the user says is still what the user says
    assert [c.context for c in parse("My photo 'a.jpg' is blurry and dark.").clauses] == [
        "personal",
        "personal",
    ]


def test_a_lead_clause_hands_its_inputs_to_the_clause_after_it() -> None:
    clauses = parse("Using the text 'a red bicycle', generate an image and then edit it.").clauses
    assert clauses[0].context == "lead"
    assert [n.value for n in clauses[1].named] == ["a red bicycle"]
    assert clauses[1].sources == ("text",) and clauses[1].refers


def test_the_task_text_drops_what_the_clause_reads() -> None:
    assert _read("Transcribe 'example.wav'")[0][:1] == ("Transcribe it",)
    # a literal after the noun that introduces it leaves the noun
    assert _read("Caption the photo 'example.png'")[0] == ("Caption the photo", "", ("image",), ())
    # an earlier result named by the clause reads "it" and keeps its medium as a source
    clause = parse("Clean up x.wav, then transcribe the cleaned audio").clauses[1]
    assert clause.task == "transcribe it" and clause.back == ("audio",)
    assert clause.plain == "transcribe the audio"
    assert task_text("What's \x000\x00", ["text"], [True]) == "What's it"


def test_targets_are_what_the_clause_asks_to_make() -> None:
    assert targets("turn it into speech") == ["audio"]
    assert targets("create a short video based on it") == ["video"]
    assert targets("Generate a description of it") == ["text"]
    assert targets("Add a voiceover to it") == []  # adding makes the video, not the audio
    assert targets("I need to hear it") == ["audio"]


def test_a_language_asks_for_a_translation_besides() -> None:
    assert aside("what they are saying in Spanish") == "translate it into Spanish"
    assert aside("translate it into Spanish") == ""
    assert aside("sit in Paris") == ""


def test_quoted_urls_are_urls_and_titles_do_not_end_sentences() -> None:
    named = parse("Download 'https://example.com/talk.mp4' now").named
    assert [(n.kind, n.text) for n in named] == [("url", "https://example.com/talk.mp4")]
    clause = parse("Download 'https://example.com/talk.mp4'").clauses[0]
    assert clause.targets == ("video",)  # the link points to a video
    assert len(parse("Book an appointment with Dr. Smith.").clauses) == 1


def test_a_piece_without_a_verb_takes_the_verb_before() -> None:
    clauses = parse(
        "Download the video at 'https://e.com/v.mp4' and the audio at 'https://e.com/a.mp3'"
    )
    assert [c.task for c in clauses.clauses] == [
        "Download the video at video link",
        "Download the audio at audio link",
    ]


def test_questions_are_seen() -> None:
    clauses = parse("What is the man in 'example.jpg' holding? Then caption it.").clauses
    assert clauses[0].task.endswith("?") and not clauses[1].task.endswith("?")


WORDS = st.lists(
    st.sampled_from(
        [
            "I",
            "have",
            "the",
            "image",
            "it",
            "and",
            "then",
            "'a.jpg'",
            "'hi there'",
            "Using",
            "for",
            "into",
            "speech",
            "?",
            ",",
            "translate",
            "Spanish",
            "Hi",
            "the generated",
            "https://e.com/v.mp4",
            "Dr.",
            "both",
            "a",
            "video",
        ]
    ),
    max_size=30,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(WORDS)
def test_reading_any_request_never_fails_and_never_leaks_a_slot(text: str) -> None:
    for clause in parse(text).clauses:
        assert "\x00" not in clause.task and "\x00" not in clause.plain
        assert set(clause.sources) <= {"image", "audio", "video", "text"}
        assert set(clause.targets) <= {"image", "audio", "video", "text"}
        assert clause.context in ("", "personal", "lead", "social")
