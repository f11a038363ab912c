"""Which lorebook entries a conversation activates: SillyTavern's world-info rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cards import LoreBook, LoreEntry, card_from_json
from bot.lore.scan import (
    DEFAULT_SCAN_DEPTH,
    Logic,
    book_budget,
    scan_book,
    within_budget,
)


def entry(content: str, *keys: str, **fields: Any) -> LoreEntry:
    return LoreEntry.model_validate({"keys": keys, "content": content, **fields})


def active(book: LoreBook, *messages: str, char: str = "Aqua", user: str = "Alice") -> list[str]:
    return [a.content for a in scan_book(book, messages, char=char, user=user)]


def test_a_key_in_recent_messages_activates_its_entry_case_insensitively() -> None:
    book = LoreBook(entries=(entry("Eggs hatch in water.", "egg"), entry("Two moons.", "moon")))
    assert active(book, "Alice: We found an EGG!") == ["Eggs hatch in water."]


def test_case_sensitive_entries_need_the_exact_capitals() -> None:
    book = LoreBook(entries=(entry("The god Axis.", "Axis", case_sensitive=True),))
    assert active(book, "Bob: the axis of the world") == []
    assert active(book, "Bob: praise Axis") == ["The god Axis."]


def test_keys_match_inside_words_unless_whole_words_are_asked_for() -> None:
    loose = LoreBook(entries=(entry("Cats.", "cat"),))
    strict = LoreBook(entries=(entry("Cats.", "cat", extensions={"match_whole_words": True}),))
    assert active(loose, "Bob: what a catastrophe") == ["Cats."]
    assert active(strict, "Bob: what a catastrophe") == []
    assert active(strict, "Bob: a cat!") == ["Cats."]


def test_only_the_last_scan_depth_messages_are_scanned() -> None:
    old = ["Alice: the dragon"] + [f"Bob: filler {i}" for i in range(DEFAULT_SCAN_DEPTH)]
    book = LoreBook(entries=(entry("Dragons.", "dragon"),))
    assert active(book, *old) == []
    assert active(book, *old[-DEFAULT_SCAN_DEPTH + 1 :], "Bob: a dragon") == ["Dragons."]
    deep = LoreBook(scan_depth=10, entries=(entry("Dragons.", "dragon"),))
    assert active(deep, *old) == ["Dragons."]
    per_entry = LoreBook(entries=(entry("Dragons.", "dragon", extensions={"scan_depth": 10}),))
    assert active(per_entry, *old) == ["Dragons."]


def test_speaker_names_are_scanned_and_macros_work_in_keys_and_content() -> None:
    book = LoreBook(entries=(entry("{{user}} is {{char}}'s friend.", "{{user}}"),))
    assert active(book, "Alice: hello", user="Alice") == ["Alice is Aqua's friend."]


@pytest.mark.parametrize(
    ("logic", "secondary_text", "expected"),
    [
        (Logic.AND_ANY, "gate", True),
        (Logic.AND_ANY, "nothing", False),
        (Logic.AND_ALL, "gate", False),
        (Logic.AND_ALL, "gate and tower", True),
        (Logic.NOT_ANY, "gate", False),
        (Logic.NOT_ANY, "nothing", True),
        (Logic.NOT_ALL, "gate", True),
        (Logic.NOT_ALL, "gate and tower", False),
    ],
)
def test_secondary_keys_follow_the_selective_logic(
    logic: Logic, secondary_text: str, expected: bool
) -> None:
    book = LoreBook(
        entries=(
            entry(
                "The castle.",
                "castle",
                selective=True,
                secondary_keys=("gate", "tower"),
                extensions={"selectiveLogic": int(logic)},
            ),
        )
    )
    found = active(book, f"Bob: the castle, {secondary_text}")
    assert found == (["The castle."] if expected else [])


def test_secondary_keys_are_ignored_unless_the_entry_is_selective() -> None:
    book = LoreBook(entries=(entry("Castle.", "castle", secondary_keys=("gate",)),))
    assert active(book, "Bob: the castle") == ["Castle."]


def test_constant_entries_are_always_active_and_disabled_ones_never() -> None:
    book = LoreBook(
        entries=(
            entry("Always.", constant=True),
            entry("Off.", "egg", enabled=False),
            entry(" ", "egg"),
        )
    )
    assert active(book, "Bob: an egg") == ["Always."]


def test_recursive_books_scan_activated_content_a_bounded_number_of_times() -> None:
    chain = (
        entry("The egg came from the volcano.", "egg"),
        entry("The volcano hides a temple.", "volcano"),
        entry("The temple holds a gem.", "temple"),
        entry("The gem is cursed.", "gem"),
        entry("The curse is ancient.", "cursed"),
        entry("Never reached.", "ancient"),
    )
    assert active(LoreBook(entries=chain), "Bob: an egg") == ["The egg came from the volcano."]
    recursive = active(LoreBook(recursive_scanning=True, entries=chain), "Bob: an egg")
    assert recursive[:4] == [
        "The egg came from the volcano.",
        "The volcano hides a temple.",
        "The temple holds a gem.",
        "The gem is cursed.",
    ]
    assert "Never reached." not in recursive  # 1 scan + 3 recursion steps


def test_recursion_respects_exclude_and_prevent_flags() -> None:
    book = LoreBook(
        recursive_scanning=True,
        entries=(
            entry("Mentions the volcano.", "egg", extensions={"prevent_recursion": True}),
            entry("Volcano lore.", "volcano"),
            entry("Mentions the temple.", "dragon"),
            entry("Temple lore.", "temple", extensions={"exclude_recursion": True}),
        ),
    )
    assert active(book, "Bob: an egg and a dragon") == [
        "Mentions the volcano.",
        "Mentions the temple.",
    ]


def test_results_come_most_important_first_and_positions_are_kept() -> None:
    book = LoreBook(
        entries=(
            entry("Low.", "egg", insertion_order=1, position="before_char"),
            entry("High.", "egg", insertion_order=50, position="after_char"),
            entry("ST after.", "egg", insertion_order=20, extensions={"position": 1}),
        )
    )
    found = scan_book(book, ["Bob: egg"], char="Aqua", user="Bob")
    assert [(a.content, a.before_char) for a in found] == [
        ("High.", False),
        ("ST after.", False),
        ("Low.", True),
    ]


def test_an_entry_without_a_position_is_placed_after_the_character_as_in_sillytavern() -> None:
    # SillyTavern's convertCharacterBook: extensions.position wins, else only before_char
    # is before; after_char, "" and a missing position are after.
    card = card_from_json(
        {
            "spec": "chara_card_v2",
            "spec_version": "2.0",
            "data": {
                "name": "Aqua",
                "character_book": {
                    "entries": [
                        {"keys": ["egg"], "content": "Empty.", "position": ""},
                        {"keys": ["egg"], "content": "Missing."},
                        {"keys": ["egg"], "content": "ST before.", "extensions": {"position": 0}},
                        {
                            "keys": ["egg"],
                            "content": "ST number wins.",
                            "position": "before_char",
                            "extensions": {"position": 4},
                        },
                    ]
                },
            },
        }
    )
    assert card.character_book is not None
    found = scan_book(card.character_book, ["Bob: egg"], char="Aqua", user="Bob")
    assert {a.content: a.before_char for a in found} == {
        "Empty.": False,
        "Missing.": False,
        "ST before.": True,
        "ST number wins.": False,
    }


def test_the_budget_keeps_the_most_important_entries_until_one_does_not_fit() -> None:
    book = LoreBook(entries=tuple(entry(f"E{i}", "egg") for i in range(4)))
    found = scan_book(book, ["Bob: egg"], char="Aqua", user="Bob")
    assert [a.content for a in within_budget(found, [10, 10, 30, 1], 25)] == ["E0", "E1"]


def test_book_budget_defaults_to_a_quarter_of_the_context_and_is_capped_at_half() -> None:
    assert book_budget(LoreBook(), 2048) == 512
    assert book_budget(LoreBook(token_budget=100), 2048) == 100
    assert book_budget(LoreBook(token_budget=10**9), 2048) == 1024


def test_odd_numbers_from_cards_fall_back_to_the_defaults() -> None:
    book = LoreBook(
        scan_depth=-3,
        entries=(
            entry(
                "Castle.",
                "castle",
                selective=True,
                secondary_keys=("gate",),
                extensions={"selectiveLogic": "7", "scan_depth": "lots"},
            ),
        ),
    )
    assert active(book, "Bob: castle gate") == ["Castle."]


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(st.text(max_size=12), max_size=4),
    messages=st.lists(st.text(max_size=80), max_size=6),
    whole=st.booleans(),
    case=st.booleans(),
)
def test_scanning_any_text_with_any_keys_never_fails(
    keys: list[str], messages: list[str], whole: bool, case: bool
) -> None:
    book = LoreBook(
        recursive_scanning=True,
        entries=(entry("x", *keys, case_sensitive=case, extensions={"match_whole_words": whole}),),
    )
    found = scan_book(book, messages, char="Aqua", user="Bob")
    assert len(found) <= 1
