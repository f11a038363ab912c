"""The checks on what people write for a character: names, limits, lookalike names."""

from __future__ import annotations

import re
from typing import Any

from bot.characters.fields import CHARACTER_FIELDS, MAX_NAME, CharacterDraft
from bot.characters.lookalike import skeleton, visible_name
from bot.errors import AlreadyExists, InvalidInput
from bot.values import CharacterFields, ExampleMode, FieldKind, FieldSpec


def clean_name(raw: str) -> str:
    """Validate and normalise a character name, or say what is wrong with it."""
    # Invisible and bidi-control characters go: a name is what people see of it.
    name = visible_name(raw)
    if not name:
        raise InvalidInput("A character needs a name.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Character names can be at most {MAX_NAME} characters long.")
    if re.search(r"[:@#`<>\\]|[\x00-\x1f\x7f]", name):
        raise InvalidInput(
            "Character names cannot contain `:`, `@`, `#`, `<`, `>`, backslashes or backticks."
        )
    return name


def check_not_lookalike(name: str, taken: list[str], *, own: str | None = None) -> None:
    """Refuse ``name`` when it looks like another character's name in the server (the same
    letters in another case or script, or with invisible characters)."""
    mine = skeleton(name)
    for other in taken:
        # The same name in another case is the store's to refuse, with its own message.
        if other != own and other.casefold() != name.casefold() and skeleton(other) == mine:
            raise AlreadyExists(
                f"There is already a character named {other!r} here, and {name!r} looks the "
                "same. Choose a name people can tell apart."
            )


def validate(draft: CharacterFields, *, persona_required: bool = True) -> CharacterDraft:
    """Return a cleaned copy of ``draft`` (texts trimmed, empty alternate greetings dropped)
    or raise InvalidInput naming the field.

    ``persona_required=False``: an imported card may keep its character in its lorebook or
    first message, with an empty description and personality (and so may its later edits).
    """
    if persona_required and not draft.persona.strip():
        raise InvalidInput("A character needs a persona: a few sentences about who they are.")
    return CharacterDraft(
        **{spec.name: _checked(spec, getattr(draft, spec.name)) for spec in CHARACTER_FIELDS}
    )


def _checked(spec: FieldSpec, value: Any) -> Any:
    if spec.name == "name":
        return clean_name(value)
    if spec.kind is FieldKind.TEXT:
        text = value.strip()
        _check_length(spec, spec.label, text)
        return text
    if spec.kind is FieldKind.TEXTS:
        texts = tuple(t.strip() for t in value if t.strip())
        for number, text in enumerate(texts, 1):
            _check_length(spec, f"{spec.label} {number}", text)
        return texts
    if spec.kind is FieldKind.CHOICE:
        return ExampleMode(value)
    if spec.kind is FieldKind.SHARE:
        if not 0.0 <= value <= 1.0:
            raise InvalidInput(
                f"{spec.label.capitalize()} goes from 0 (speaks only when named) to 1."
            )
        return float(value)
    return value


def _check_length(spec: FieldSpec, label: str, text: str) -> None:
    limit = spec.max_length
    if limit is not None and len(text) > limit:
        raise InvalidInput(f"The {label} is {len(text):,} characters long; the limit is {limit:,}.")
