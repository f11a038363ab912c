"""Fitting replies into Discord messages."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cogs.text import split_message, webhook_name


def test_short_text_is_one_message() -> None:
    assert split_message("Hello there.") == ["Hello there."]


def test_long_text_splits_at_paragraphs_then_sentences() -> None:
    paragraph = "A sentence that goes on. " * 50  # ~1,250 characters
    pieces = split_message(paragraph.strip() + "\n\n" + paragraph.strip(), limit=2000)
    assert len(pieces) == 2
    assert all(p.endswith("goes on.") for p in pieces)


@given(st.text(alphabet=st.sampled_from(list("ab .!\n")), max_size=5000))
def test_pieces_fit_and_lose_no_words(text: str) -> None:
    pieces = split_message(text, limit=100)
    assert all(0 < len(p) <= 100 for p in pieces)
    assert "".join(text.split()) == "".join("".join(pieces).split())


def test_webhook_names_avoid_words_discord_rejects_and_fit() -> None:
    assert "discord" not in webhook_name("Discord Kitten").lower()
    assert "clyde" not in webhook_name("Clyde").lower()
    assert len(webhook_name("x" * 200)) == 80
    assert webhook_name("   ") == "Character"
