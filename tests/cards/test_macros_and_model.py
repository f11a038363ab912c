"""Macros, the {{original}} rule, the persona, and the card value itself."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.cards import CharacterCard, LoreEntry, apply_override, substitute_macros


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{char}} greets {{user}}.", "Alice greets Sam."),
        ("{{CHAR}} greets {{User}}.", "Alice greets Sam."),
        ("<BOT> greets <USER>.", "Alice greets Sam."),
        ("<bot> greets <user>; <CHAR> too.", "Alice greets Sam; Alice too."),
        ("{{ char }} and {char} stay", "{{ char }} and {char} stay"),
        ("no macros", "no macros"),
    ],
)
def test_substitute_macros(text: str, expected: str) -> None:
    assert substitute_macros(text, char="Alice", user="Sam") == expected


def test_substitution_is_one_pass() -> None:
    # A user named "{{char}}" must not turn into the character's name.
    assert substitute_macros("{{user}}", char="Alice", user="{{char}}") == "{{char}}"


@pytest.mark.parametrize(
    ("card_value", "expected"),
    [
        (None, "DEFAULT"),
        ("", "DEFAULT"),
        ("  \n", "DEFAULT"),
        ("Card only.", "Card only."),
        ("Before. {{original}} After.", "Before. DEFAULT After."),
        ("{{ORIGINAL}}!", "DEFAULT!"),
        ("{{original}} and {{original}}", "DEFAULT and "),
    ],
)
def test_apply_override(card_value: str | None, expected: str) -> None:
    assert apply_override(card_value, "DEFAULT") == expected


def test_apply_override_does_not_expand_macros_in_the_default() -> None:
    assert apply_override("{{original}}", "{{original}} x") == "{{original}} x"


@pytest.mark.parametrize(
    ("description", "personality", "persona"),
    [
        ("A knight.", "brave", "A knight.\n{{char}}'s personality: brave"),
        ("A knight.\n\n", "", "A knight."),
        ("", "brave", "{{char}}'s personality: brave"),
        ("", "  ", ""),
    ],
)
def test_persona_is_description_then_personality(
    description: str, personality: str, persona: str
) -> None:
    card = CharacterCard(name="Alice", description=description, personality=personality)
    assert card.persona == persona


def test_display_name_is_the_nickname_when_there_is_one() -> None:
    assert CharacterCard(name="Alice").display_name == "Alice"
    assert CharacterCard(name="Alice", nickname="").display_name == "Alice"
    assert CharacterCard(name="Alice", nickname="Ali").display_name == "Ali"


def test_card_is_frozen() -> None:
    card = CharacterCard(name="Alice")
    with pytest.raises(ValidationError):
        card.name = "Bob"  # type: ignore[misc]


def test_replace_validates_and_keeps_the_rest() -> None:
    card = CharacterCard(name="Alice", tags=("a",), avatar_png=b"png")
    changed = card.replace(description="New.")
    assert (changed.description, changed.tags, changed.avatar_png) == ("New.", ("a",), b"png")
    with pytest.raises(ValidationError):
        card.replace(tags=5)


def test_extra_fields_may_not_shadow_spec_fields() -> None:
    with pytest.raises(ValidationError):
        CharacterCard(name="Alice", extra_fields={"nickname": "Ali"})
    with pytest.raises(ValidationError):
        LoreEntry(extra_fields={"content": "x"})


def test_cards_compare_by_value() -> None:
    assert CharacterCard(name="A", extensions={"x": [1]}) == CharacterCard(
        name="A", extensions={"x": [1]}
    )
    assert CharacterCard(name="A") != CharacterCard(name="A", spec_version="2.0")


def test_the_package_does_not_import_discord() -> None:
    import subprocess
    import sys

    code = "import sys, bot.cards; sys.exit('discord' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
