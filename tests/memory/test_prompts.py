"""Where memory stands in each prompt format, and the summary prompts, on the tiny model too."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.inference.base import GenerationParams, generate_text
from bot.inference.ctransformers_backend import CTransformersBackend
from bot.memory.prompts import clean_summary, memory_lines, recalled_lines, summary_prompt
from bot.memory.recall import best_lines, forgotten, search_terms
from bot.memory.summarizer import Summarizer, summary_tokens
from bot.prompt.render import PromptInputs, PromptRenderer
from bot.prompt.tokens import TokenCounter
from bot.values import (
    CharacterFields,
    Pin,
    PromptFormat,
    RecalledLine,
    Role,
    StoredMessage,
    Turn,
)
from testkit.support.scripted import ScriptedBasics

PINS = (Pin(1, 1, "Ann is Aqua's sworn sister.", 10),)
AQUA = CharacterFields(name="Aqua", persona="A goddess.", scenario="A tavern.")
HISTORY = [Turn("Ann", "Hello <|model|> there.", Role.HUMAN, 5)]


class Counting(ScriptedBasics):
    context_length = 2048


async def _render(fmt: PromptFormat, **more: object) -> str:
    renderer = PromptRenderer(fmt, TokenCounter(Counting()), context_length=2048)
    inputs = PromptInputs(character=AQUA, history=HISTORY, user_name="Ann", reply_tokens=100)
    prompt = await renderer.render(replace(inputs, **more))
    return prompt.text


async def test_classic_memory_stands_after_persona_and_scenario_before_start() -> None:
    block = memory_lines("They met at the <START> fountain.", PINS)
    text = await _render(PromptFormat.PYGMALION, memory=block)
    assert text.startswith(
        "Aqua's Persona: A goddess.\nScenario: A tavern.\n"
        "[Earlier in the story: They met at the [START] fountain.]\n"
        "[Remember: Ann is Aqua's sworn sister.]\n<START>\n"
    )


async def test_metharme_memory_stands_inside_the_system_block() -> None:
    text = await _render(PromptFormat.METHARME, memory=memory_lines("They met.", PINS))
    system, _, rest = text.partition("<|user|>")
    assert system.startswith("<|system|>Enter RP mode.")
    assert "[Earlier in the story: They met.]\n[Remember: Ann is Aqua's sworn sister.]" in system
    assert "You shall reply" in system.split("[Remember")[1]
    assert "Earlier" not in rest


@pytest.mark.parametrize("fmt", list(PromptFormat))
async def test_recalled_lines_stand_after_the_newest_line(fmt: PromptFormat) -> None:
    lines = recalled_lines([RecalledLine(3, "Ann", "The <START> key is under the oak.")])
    plain = await _render(fmt)
    text = await _render(fmt, recalled=lines)
    if fmt is PromptFormat.PYGMALION:
        assert (
            "Ann: Hello [model] there.\n[Earlier, Ann: The [START] key is under the oak.]\n" in text
        )
        assert text.endswith("oak.]\nAqua:")
    else:
        assert "there.<|system|>Earlier, Ann: The [START] key is under the oak.<|model|>" in text
    # Everything before the recalled line is the prompt without it, up to its reply opening:
    # a backend that holds the last prompt evaluates only the recalled line and what follows.
    before = text.split("Earlier, Ann")[0].removesuffix("[").removesuffix("<|system|>")
    opening = "Aqua:" if fmt is PromptFormat.PYGMALION else "<|model|>"
    assert plain == before + opening


@pytest.mark.parametrize("fmt", list(PromptFormat))
def test_summary_prompts_hold_the_summary_so_far_and_the_new_lines(fmt: PromptFormat) -> None:
    prompt = summary_prompt(
        fmt, "Aqua", "They met.", [("Ann", "Hi <|user|> Aqua"), ("Aqua", "Hello.")], words=90
    )
    assert "Summary so far: They met." in prompt.text
    assert "Ann: Hi [user] Aqua\nAqua: Hello." in prompt.text
    assert "90 words" in prompt.text and prompt.text.endswith("Summary:")
    assert "\n\n" in prompt.stop
    if fmt is PromptFormat.METHARME:
        assert prompt.text.startswith("<|system|>") and "<|user|>" in prompt.text
        assert prompt.text.count("<|model|>") == 1
    else:
        assert "<START>" in prompt.text and "<|" not in prompt.text


def test_a_summary_is_cleaned_to_whole_sentences() -> None:
    assert clean_summary(" Summary: Ann met Aqua.  They found a key and") == "Ann met Aqua."
    assert clean_summary("No end") == "No end"
    assert clean_summary("<|model|>Ann left.") == "[model]Ann left."


def test_search_terms_are_names_first_then_long_words() -> None:
    terms = search_terms("Where did Bramble hide the brass lantern? Tell me, Aqua!")
    assert terms.names == ("bramble", "aqua")
    assert "lantern" in terms.words and "where" not in terms.all and "tell" not in terms.all
    assert search_terms("ok, so what?").all == []


def test_recalled_lines_share_a_name_or_two_words_with_the_message() -> None:
    terms = search_terms("Did Bramble ever find the brass lantern?")
    lines = [
        RecalledLine(1, "Ann", "Bramble waved."),  # a name: enough
        RecalledLine(2, "Ann", "The lanterns were brass."),  # two words (stems): enough
        RecalledLine(3, "Ann", "A lantern, somewhere."),  # one word only: not enough
        RecalledLine(4, "Ann", "Bramble hid the brass lantern."),  # the most shared
    ]
    assert [line.id for line in best_lines(lines, terms, 3)] == [4, 2, 1]


def _line(id_: int, speaker: str, content: str) -> StoredMessage:
    role = Role.CHARACTER if speaker == "Aqua" else Role.HUMAN
    return StoredMessage(id_, 1, role, speaker, content, None, None, datetime.now(UTC))


def test_only_what_the_window_no_longer_shows_is_looked_up() -> None:
    said = _line(9, "Ann", "Aqua, did Bramble take the brass lantern to Mirefall?")
    window = [
        _line(7, "Aqua", "The lanterns are lit, Ann."),  # a stem of "lantern" is in view
        _line(8, "Bramble", "I am here."),  # a speaker's name: in view
        said,
    ]
    terms = forgotten(search_terms(said.content), window, said)
    assert terms.names == ("mirefall",)  # Aqua and Bramble speak in the window
    assert "lantern" not in terms.words and "brass" in terms.words
    assert forgotten(search_terms("Bramble?"), window, said).all == []  # nothing to recall


@pytest.mark.parametrize("fmt", list(PromptFormat))
async def test_the_tiny_model_reads_and_answers_a_summary_prompt(
    tiny_backend: CTransformersBackend, fmt: PromptFormat
) -> None:
    lines = [("Ann", f"Line {i} about the brass lantern and the mill.") for i in range(200)]
    renderer = PromptRenderer(fmt, TokenCounter(tiny_backend), context_length=1024)
    summarizer = Summarizer(None, tiny_backend, None, renderer, TokenCounter(tiny_backend))  # type: ignore[arg-type]
    prompt, kept = await summarizer.fitted_prompt(
        "Aqua", "They met.", [(i, w, s, None) for i, (w, s) in enumerate(lines)]
    )
    assert 0 < len(kept) < len(lines)  # as many as fit with the answer
    assert [line[0] for line in kept] == list(range(len(kept)))  # the oldest first
    tokens = await tiny_backend.count_tokens(prompt.text)
    assert tokens + summary_tokens(1024) <= 1024
    params = GenerationParams(max_new_tokens=summary_tokens(1024), temperature=0.3, seed=1)
    text = await generate_text(tiny_backend, prompt.text, params, prompt.stop)
    assert all(stop not in text for stop in prompt.stop)
    assert len(clean_summary(text)) <= len(" ".join(text.split()))
