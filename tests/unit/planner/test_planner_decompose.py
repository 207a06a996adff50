"""Requests decomposed into sub-tasks and wired by data flow and order (lexical matching,
over the evaluation catalogues in tests/planner_eval)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from planner_toys import spec

from podium.engine import check_models, workflow_from_mapping
from podium.planner import PlanError, Planner, PlanOptions, UnreachableError
from podium.planner._decompose import confidence
from podium.registry import Registry
from podium.store import MemoryStore

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "planner_eval"))
import harness

LEXICAL = PlanOptions(matcher="lexical", templates=False, llm=False)


@pytest.fixture(scope="module")
def media() -> Planner:
    return harness.planner_for("media-edit")


@pytest.fixture(scope="module")
def ml() -> Planner:
    return harness.planner_for("media-ml")


@pytest.fixture(scope="module")
def api() -> Planner:
    return harness.planner_for("daily-api")


def graph_of(planner: Planner, request: str) -> tuple[set[str], set[tuple[str, str]], Any]:
    plan = planner.plan(request, options=LEXICAL)
    check_models(workflow_from_mapping(plan.document, source="<t>"), planner.registry)
    nodes, edges = harness.tool_graph(planner, plan)
    return nodes, edges, plan


def test_a_chain_with_a_url_and_a_file_is_planned_whole(media: Planner) -> None:
    nodes, edges, plan = graph_of(
        media,
        "Download the video at https://example.com/clip.mp4, stabilize it, "
        "then synchronize it with example.wav.",
    )
    assert nodes == {"video-downloader", "video-stabilizer", "audio-video-synchronizer"}
    assert edges == {
        ("video-downloader", "video-stabilizer"),
        ("video-stabilizer", "audio-video-synchronizer"),
    }
    assert plan.document["inputs"]["example_wav"] == {"type": "string", "default": "example.wav"}
    assert plan.document["inputs"]["url"]["default"] == "https://example.com/clip.mp4"


def test_same_type_steps_are_ordinary_steps(media: Planner) -> None:
    nodes, edges, _ = graph_of(media, "Colorize grandpa.jpg and then upscale it")
    assert nodes == {"image-colorizer", "image-upscaler"}
    assert edges == {("image-colorizer", "image-upscaler")}


def test_words_choose_the_tool_not_the_types(ml: Planner) -> None:
    nodes, _, _ = graph_of(ml, "Transcribe the audio lecture.wav to text")
    assert nodes == {"automatic-speech-recognition"}


def test_branches_joined_by_also_read_what_their_sibling_read(ml: Planner) -> None:
    nodes, edges, plan = graph_of(
        ml, "Caption image.jpg, then translate the caption and also turn the caption into speech"
    )
    assert nodes == {"image-to-text", "translation", "text-to-speech"}
    assert edges == {("image-to-text", "translation"), ("image-to-text", "text-to-speech")}
    assert len(plan.why.stages) == 2


def test_a_tool_with_two_inputs_of_one_type_gets_both(media: Planner, ml: Planner) -> None:
    _, _, plan = graph_of(media, "Stitch left.jpg and right.jpg into a panorama")
    (step,) = plan.document["steps"].values()
    assert step["with"] == {"image": "${{ inputs.left_jpg }}", "image_2": "${{ inputs.right_jpg }}"}
    _, _, plan = graph_of(ml, "How similar are 'a red car' and 'a crimson automobile'?")
    (step,) = plan.document["steps"].values()
    assert set(step["with"]) == {"text", "text_2"}
    assert step["with"]["text"] != step["with"]["text_2"]


def test_each_of_several_named_inputs_gets_its_own_step(media: Planner) -> None:
    nodes, edges, plan = graph_of(
        media, "Download https://e.com/a.jpg and https://e.com/b.jpg and stitch them together"
    )
    assert nodes == {"image-downloader", "image-stitcher"}
    assert edges == {("image-downloader", "image-stitcher")}
    assert len(plan.document["steps"]) == 3


def test_api_calls_are_ordered_by_then_and_parallel_by_and(api: Planner) -> None:
    nodes, edges, plan = graph_of(
        api,
        "Book a flight from Boston to Miami on May 2, then book a hotel in Miami, "
        "and finally order a taxi to the hotel.",
    )
    assert nodes == {"book-flight", "book-hotel", "order-taxi"}
    assert edges == {("book-flight", "book-hotel"), ("book-hotel", "order-taxi")}
    assert all("after" in s or not i for i, s in enumerate(plan.document["steps"].values()))
    nodes, edges, _ = graph_of(api, "Turn on the heating and play the song Yesterday")
    assert nodes == {"control-smart-home", "play-music"}
    assert edges == set()
    _, edges, _ = graph_of(
        api, "Check the weather in Seattle and the news about the Seahawks, then email them to dan"
    )
    assert edges == {("get-weather", "send-email"), ("get-news", "send-email")}


def test_a_request_with_no_tool_names_the_sub_tasks_and_the_closest(api: Planner) -> None:
    with pytest.raises(PlanError) as caught:
        api.plan("juggle seven flaming torches", options=LEXICAL)
    message = str(caught.value)
    assert "juggle seven flaming torches" in message
    assert "no capability matches it" not in message


def test_without_given_inputs_a_needed_type_is_an_input(ml: Planner) -> None:
    _, _, plan = graph_of(ml, "Generate an image of a red fox in the snow")
    assert set(plan.inputs) == {"text"}


def test_with_given_inputs_a_missing_type_is_planned_or_refused() -> None:
    store = MemoryStore()
    registry = Registry(store)
    registry.register(spec("detector", ["text"], ["intent"], capability="text.intent"))
    registry.register(spec("drafter", ["intent"], ["reply"], capability="text.reply"))
    registry.register(
        spec("tumour", ["measurements"], ["diagnosis"], capability="diagnosis.malignancy")
    )
    planner = Planner(registry, store)
    plan = planner.plan("draft a reply", given={"message": "text"}, options=LEXICAL)
    assert [s.uses for s in plan.why.steps] == ["capability/text.intent", "capability/text.reply"]
    with pytest.raises(UnreachableError, match="needs 'measurements'"):
        planner.plan("diagnose the breast tumour", given={"message": "text"}, options=LEXICAL)


def test_confidence_grows_with_the_score_and_the_margin() -> None:
    assert confidence("embedding", 0.7, 0.3) > confidence("embedding", 0.5, 0.45) > 0
    assert confidence("lexical", 6.0, 1.0) > confidence("lexical", 2.0, 1.9)
    assert 0.0 < confidence("lexical", -100, 100) < confidence("lexical", 100, -100) <= 1.0


@pytest.mark.parametrize(
    "request_text",
    [
        "",
        "and then and then",
        "'quoted only'",
        "it, then it, then it",
        "stitch them",
        "Translate it and also translate it and also translate it",
        "example.jpg example.wav example.mp4 https://x.example/y",
    ],
)
def test_odd_requests_plan_validly_or_say_why(media: Planner, request_text: str) -> None:
    try:
        graph_of(media, request_text)
    except PlanError as exc:
        assert str(exc)


def test_a_step_asked_for_twice_is_one_step_and_makes_no_cycle() -> None:
    store = MemoryStore()
    registry = Registry(store)
    registry.register(spec("detector", ["text"], ["intent"], capability="text.intent"))
    registry.register(spec("drafter", ["intent"], ["reply"], capability="text.reply"))
    planner = Planner(registry, store)
    plan = planner.plan(
        "draft a reply and then classify the message's intent and then draft a reply",
        given={"message": "text"},
        options=LEXICAL,
    )
    assert [(s.id, s.after) for s in plan.why.steps] == [("intent", ()), ("reply", ("intent",))]


# Over the second evaluation's catalogues (tests/planner_eval2), still lexical.


@pytest.fixture(scope="module")
def hf() -> Planner:
    return harness.planner_for("hf-tasks")


@pytest.fixture(scope="module")
def multimedia() -> Planner:
    return harness.planner_for("multimedia")


@pytest.fixture(scope="module")
def daily() -> Planner:
    return harness.planner_for("daily-life")


def test_what_the_user_has_is_an_input_not_a_step(hf: Planner) -> None:
    nodes, _, plan = graph_of(
        hf, "Hi! I have a photo 'example.jpg' of a street. Please detect the objects in it."
    )
    assert nodes == {"object-detection"}
    assert plan.document["inputs"]["example_jpg"]["default"] == "example.jpg"


def test_a_tool_that_reads_only_text_gets_it_from_a_named_medium(multimedia: Planner) -> None:
    nodes, edges, _ = graph_of(multimedia, "Translate the speech in 'example.wav' into English")
    assert nodes == {"audio-to-text", "text-translator"}
    assert edges == {("audio-to-text", "text-translator")}


def test_a_language_the_clause_asks_for_adds_a_translation(multimedia: Planner) -> None:
    nodes, edges, _ = graph_of(multimedia, "Transcribe 'example.wav' in Spanish")
    assert nodes == {"audio-to-text", "text-translator"}
    assert edges == {("audio-to-text", "text-translator")}


def test_a_medium_asked_for_that_the_tool_does_not_make_adds_a_converter(
    multimedia: Planner,
) -> None:
    nodes, edges, _ = graph_of(multimedia, "Extract the text in 'example.png' as speech")
    assert nodes == {"image-to-text", "text-to-audio"}
    assert edges == {("image-to-text", "text-to-audio")}


def test_a_tool_that_declares_no_output_type_is_planned(hf: Planner) -> None:
    nodes, _, plan = graph_of(hf, "How similar are 'a red car' and 'a crimson automobile'?")
    assert nodes == {"sentence-similarity"}
    assert plan.document["outputs"]


def test_api_calls_in_a_told_sequence_follow_each_other_and_join_on_both(daily: Planner) -> None:
    _, edges, _ = graph_of(
        daily,
        "Book a flight from Paris to Rome on 2023-05-12, book the hotel 'Hilton' for the same "
        "date, and finally send an SMS to 555-0100.",
    )
    assert edges == {("book-flight", "book-hotel"), ("book-hotel", "send-sms")}
    _, edges, _ = graph_of(
        daily,
        "Get the weather in Miami on 2023-12-24 and the news about hurricanes, then email both "
        "to family@example.com.",
    )
    assert edges == {("get-weather", "send-email"), ("get-news-for-topic", "send-email")}
    _, edges, _ = graph_of(daily, "Pay my electricity bill and also call 555-1212.")
    assert edges == set()
