"""The one-pass matcher finds what a key-by-key scan finds, within its bounds, built once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cards import LoreBook, LoreEntry, substitute_macros
from bot.lore.matcher import (
    MAX_MATCHES,
    MAX_SCANNED_KEYS,
    MatchBudget,
    cached_matcher,
    matcher_for,
)
from bot.lore.rules import DEFAULT_SCAN_DEPTH, Logic, flag, is_case_sensitive, whole_number
from bot.lore.scan import MAX_RECURSION_STEPS, scan_book, scan_book_async


def entry(content: str, *keys: str, **fields: Any) -> LoreEntry:
    return LoreEntry.model_validate({"keys": keys, "content": content, **fields})


def key_by_key(book: LoreBook, messages: Sequence[str], char: str, user: str) -> list[str]:
    """The scan as it was written before the matcher: every key searched in the joined text."""
    join = "\n\x01"
    ranked = sorted(
        (e for e in book.entries if e.enabled and e.content.strip()),
        key=lambda e: -float(e.insertion_order),
    )
    default = whole_number(book.scan_depth, DEFAULT_SCAN_DEPTH)

    def contains(text: str, key: str, case: bool, whole: bool) -> bool:
        if whole:
            found = re.search(rf"(?<!\w){re.escape(key)}(?!\w)", text, 0 if case else re.I)
            return found is not None
        return key in text if case else key.casefold() in text.casefold()

    def activates(e: LoreEntry, text: str) -> bool:
        case, whole = is_case_sensitive(e), flag(e, "match_whole_words")

        def found(key: str) -> bool:
            key = substitute_macros(key, char=char, user=user).strip()
            return bool(key) and contains(text, key, case, whole)

        if not any(found(k) for k in e.keys):
            return False
        if not e.selective or not e.secondary_keys:
            return True
        hits = [found(k) for k in e.secondary_keys]
        logic = Logic(whole_number(e.extensions.get("selectiveLogic"), 0))
        return {
            Logic.AND_ALL: all(hits),
            Logic.NOT_ANY: not any(hits),
            Logic.NOT_ALL: not all(hits),
            Logic.AND_ANY: any(hits),
        }[logic]

    activated: dict[int, str] = {}
    recursion = ""
    for step in range(1 + (MAX_RECURSION_STEPS if book.recursive_scanning else 0)):
        new = []
        for i, e in enumerate(ranked):
            if i in activated or (step > 0 and flag(e, "exclude_recursion")):
                continue
            depth = whole_number(e.extensions.get("scan_depth"), default)
            recent = list(messages[-depth:]) if depth > 0 else []
            text = join + join.join(recent) + join + recursion
            if e.constant or activates(e, text):
                activated[i] = substitute_macros(e.content.strip(), char=char, user=user)
                new.append(i)
        more = [activated[i] for i in new if not flag(ranked[i], "prevent_recursion")]
        if not more:
            break
        recursion += join + join.join(more)
    return [activated[i] for i in sorted(activated)]


WORDS = st.sampled_from(["egg", "Egg", "eggs", "moon", "mo", "on", "{{char}}", "a b", "gate"])
TEXT = st.lists(
    st.sampled_from(["egg", "Eggs", "moon", "Aqua", "a b", "gate", "on", "!", " ", "x"]),
    max_size=8,
).map("".join)


@st.composite
def books(draw: st.DrawFn) -> LoreBook:
    entries = []
    for i in range(draw(st.integers(1, 6))):
        extensions: dict[str, Any] = {
            "match_whole_words": draw(st.booleans()),
            "selectiveLogic": draw(st.integers(0, 3)),
            "exclude_recursion": draw(st.booleans()),
            "prevent_recursion": draw(st.booleans()),
        }
        if draw(st.booleans()):
            extensions["scan_depth"] = draw(st.integers(0, 4))
        entries.append(
            entry(
                f"E{i} " + draw(TEXT),
                *draw(st.lists(WORDS, max_size=3)),
                secondary_keys=tuple(draw(st.lists(WORDS, max_size=2))),
                selective=draw(st.booleans()),
                case_sensitive=draw(st.sampled_from([None, True, False])),
                constant=draw(st.booleans()) and draw(st.booleans()),
                insertion_order=draw(st.integers(0, 3)),
                extensions=extensions,
            )
        )
    return LoreBook(
        entries=tuple(entries),
        scan_depth=draw(st.integers(0, 5)),
        recursive_scanning=draw(st.booleans()),
    )


@settings(max_examples=300, deadline=None)
@given(book=books(), messages=st.lists(TEXT.map(lambda t: f"Bob: {t}"), max_size=6))
def test_the_matcher_activates_exactly_what_a_key_by_key_scan_does(
    book: LoreBook, messages: list[str]
) -> None:
    found = [a.content for a in scan_book(book, messages, char="Aqua", user="Bob")]
    assert found == key_by_key(book, messages, "Aqua", "Bob")


def test_a_book_is_compiled_once_per_revision_and_names_only_matter_when_keys_use_them() -> None:
    plain = LoreBook(entries=(entry("Egg.", "egg"),))
    named = LoreBook(entries=(entry("Friend.", "{{user}}"),))
    assert matcher_for(plain, char="A", user="B") is matcher_for(plain, char="C", user="D")
    assert matcher_for(named, char="A", user="B") is not matcher_for(named, char="A", user="E")
    copy = plain.model_copy()
    assert cached_matcher(copy, char="A", user="B") is None  # another object, another build


def test_keys_past_the_bound_never_match_and_the_log_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    book = LoreBook(
        entries=(
            *(entry(f"E{i}", f"key{i}x") for i in range(MAX_SCANNED_KEYS)),
            entry("Last.", "zzz", insertion_order=-1),
            entry("Shares a key.", "zzz", "KEY3X", insertion_order=-1),
            entry(
                "Needs all.",
                "key5x",
                selective=True,
                secondary_keys=("key6x", "yyy"),
                extensions={"selectiveLogic": 3},
                insertion_order=-1,
            ),
            entry("Regex still read.", "/key9x/", "qqq", insertion_order=-1),
        )
    )
    with caplog.at_level("WARNING", logger="bot.lore.matcher"):
        found = scan_book(book, ["Bob: key7x zzz key3x key5x key6x yyy key9x"], char="A", user="B")
    assert [a.content for a in found] == [
        "E3",
        "E5",
        "E6",
        "E7",
        "E9",
        "Shares a key.",  # its compiled key still matches
        "Regex still read.",  # regex keys have a bound of their own
    ]  # "Needs all." is out: its key yyy is past the bound, so never found
    assert "past the scan's bounds" in caplog.text


def test_overlapping_keys_examine_a_bounded_number_of_occurrences(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # "a", "aa", ... end at every letter of "aaaa...": 59 occurrences per letter.
    book = LoreBook(entries=tuple(entry(f"A{n}", "a" * n) for n in range(1, 60)))
    with caplog.at_level("WARNING", logger="bot.lore.scan"):
        found = scan_book(book, ["Bob: " + "a" * (MAX_MATCHES // 50)], char="A", user="B")
    assert len(found) == 59 and "bound of key occurrences" in caplog.text
    budget = MatchBudget(left=500)
    hits = matcher_for(book, char="A", user="B").text_hits("a" * 100, budget)
    assert 0 < len(hits) < 59 and budget.exhausted


async def test_the_async_scan_finds_the_same_entries_in_a_thread_or_inline() -> None:
    small = LoreBook(entries=(entry("Egg.", "egg"),))
    large = LoreBook(
        entries=tuple(entry(f"E{i}", *(f"w{i}_{j}" for j in range(50))) for i in range(100))
    )
    assert [a.content for a in await scan_book_async(small, ["Bob: egg"], char="A", user="B")] == [
        "Egg."
    ]
    found = await scan_book_async(large, ["Bob: w3_7 and w99_49"], char="A", user="B")
    assert [a.content for a in found] == ["E3", "E99"]
