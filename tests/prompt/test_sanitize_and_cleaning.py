"""Neutralising user text, and cleaning model output."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.prompt.cleaning import clean_reply
from bot.prompt.sanitize import names_pattern, neutralize, speaker_name

FORMAT_TOKEN = re.compile(r"<START>|<\|(system|user|model|endoftext)\|>|</?s>", re.IGNORECASE)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab :\n<>|/sSTARtyemodlu")), max_size=80))
def test_neutralized_text_has_no_format_tokens_and_no_turn_like_lines(text: str) -> None:
    out = neutralize(text, names_pattern(["Aqua", "Bob"]))
    assert not FORMAT_TOKEN.search(out)
    for line in out.split("\n")[1:]:
        assert not re.match(r"\s*(Aqua|Bob)\s*:", line)
        assert not re.match(r"[^\n:]{1,48}:", line)


@given(st.text(max_size=60))
def test_speaker_names_are_single_line_colon_free_and_bounded(raw: str) -> None:
    name = speaker_name(raw)
    assert name and "\n" not in name and ":" not in name and len(name) <= 40


def test_clean_reply_drops_own_name_and_cuts_at_other_speakers() -> None:
    raw = " Aqua: Hello there!\nAqua: I mean it.\nBob: something Bob never said"
    assert clean_reply(raw, character_name="Aqua", speakers=["Bob"]) == "Hello there!\nI mean it."


def test_clean_reply_cuts_at_you_and_format_markers() -> None:
    assert clean_reply("Sure!\nYou: hi", character_name="Aqua") == "Sure!"
    assert clean_reply("Sure!<|user|>hi", character_name="Aqua") == "Sure!"
    assert clean_reply("Sure!</s>", character_name="Aqua") == "Sure!"
    assert clean_reply("Sure! <START> more", character_name="Aqua") == "Sure!"


def test_clean_reply_trims_a_half_sentence_only_when_cut_by_the_token_limit() -> None:
    raw = "I will help. *She smiles.* Then we could go to the"
    assert clean_reply(raw, character_name="Aqua", truncated=True) == "I will help. *She smiles.*"
    assert clean_reply(raw, character_name="Aqua", truncated=False) == raw


def test_clean_reply_keeps_a_truncated_reply_without_any_sentence_end() -> None:
    raw = "and then the river kept going"
    assert clean_reply(raw, character_name="Aqua", truncated=True) == raw


def test_clean_reply_may_be_empty_and_says_so() -> None:
    assert clean_reply("Aqua:   \nBob: hi", character_name="Aqua", speakers=["Bob"]) == ""
