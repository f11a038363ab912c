"""``/pattern/flags`` keys run as regular expressions on RE2, and cost nothing when hostile."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.cards import LoreBook, LoreEntry
from bot.errors import InvalidInput
from bot.lore.regex_keys import parse_regex_key, regex_key_error
from bot.lore.scan import scan_book
from bot.lore.service import EntryDraft, build_entry


def entry(content: str, *keys: str, **fields: Any) -> LoreEntry:
    return LoreEntry.model_validate({"keys": keys, "content": content, **fields})


def active(book: LoreBook, *messages: str) -> list[str]:
    return [a.content for a in scan_book(book, messages, char="Aqua", user="Alice")]


def test_a_regex_key_fires_on_text_its_pattern_matches() -> None:
    book = LoreBook(entries=(entry("Dragons breathe fire.", r"/dra(gon|ke)s?\b/i"),))
    assert active(book, "Bob: A DRAKE flew over.") == ["Dragons breathe fire."]
    assert active(book, "Bob: a dragonfly") == []  # \b after the word
    assert active(book, "Bob: /dra(gon|ke)s?\\b/i") == []  # not as plain text


def test_regex_keys_are_case_sensitive_unless_flagged_as_sillytavern_has_them() -> None:
    book = LoreBook(entries=(entry("Axis.", "/Axis/"),))
    assert active(book, "Bob: the axis") == []
    assert active(book, "Bob: praise Axis") == ["Axis."]


def test_regex_keys_work_as_secondary_keys() -> None:
    book = LoreBook(
        entries=(
            entry(
                "Castle at night.",
                "castle",
                selective=True,
                secondary_keys=(r"/\bnight|dusk\b/",),
                extensions={"selectiveLogic": 3},
            ),
        )
    )
    assert active(book, "Bob: the castle at dusk") == ["Castle at night."]
    assert active(book, "Bob: the castle at noon") == []


def test_a_catastrophic_pattern_costs_nothing() -> None:
    book = LoreBook(entries=(entry("Never.", "/(a+)+$/"), entry("Egg.", "egg")))
    started = time.perf_counter()
    found = active(book, "Bob: " + "a" * 50_000 + "b egg")
    assert time.perf_counter() - started < 1.0  # a backtracking engine takes years
    assert found == ["Egg."]


def test_a_pattern_re2_cannot_compile_is_ignored_and_the_rest_of_the_book_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    book = LoreBook(entries=(entry("Look-behind.", "/(?<=a)b/"), entry("Egg.", "egg")))
    with caplog.at_level("INFO", logger="bot.lore.regex_keys"):
        assert active(book, "Bob: ab egg") == ["Egg."]
    assert "cannot compile" in caplog.text


def test_keys_that_sillytavern_reads_as_plain_text_stay_plain_text() -> None:
    assert parse_regex_key("egg") is None
    assert parse_regex_key("/a/b/") is None  # an unescaped slash inside
    assert parse_regex_key("/a/ii") is None  # a repeated flag: invalid in JavaScript
    assert parse_regex_key("//") is None
    assert parse_regex_key(r"/a\/b/") is not None
    book = LoreBook(entries=(entry("Path.", "/home/user/"),))
    assert active(book, "Bob: see /home/user/ now") == ["Path."]


def test_use_regex_leaves_plain_keys_plain_as_sillytavern_exports_them() -> None:
    book = LoreBook(entries=(entry("C++.", "C++", use_regex=True),))
    assert active(book, "Bob: I write c++ daily") == ["C++."]


def test_flags_i_s_m_and_y_mean_what_they_mean_in_javascript() -> None:
    book = LoreBook(
        entries=(
            entry("Dot.", "/a.b/s"),
            entry("Line.", "/^two$/m"),
            entry("Sticky.", "/Bob/y"),
            entry("No dot-all.", "/x.y/"),
        )
    )
    assert active(book, "Bob: a\nb x\ny", "Carol: one\ntwo\nthree") == [
        "Dot.",
        "Line.",
        "Sticky.",
    ]
    assert active(book, "Carol: Bob ab two") == []


def test_lore_add_refuses_a_regex_re2_cannot_run_with_a_sentence() -> None:
    assert regex_key_error("/(?<=a)b/") is not None
    assert regex_key_error("/ok/i") is None and regex_key_error("plain") is None
    with pytest.raises(InvalidInput, match="regular expression"):
        build_entry(EntryDraft(content="x", keys=("/(?<=a)b/",)))
    with pytest.raises(InvalidInput, match="regular expression"):
        build_entry(EntryDraft(content="x", keys=("a",), secondary_keys=("/(a)\\1/",)))
    assert build_entry(EntryDraft(content="x", keys=("/dra(gon|ke)/i",))).keys
