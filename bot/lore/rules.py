"""How SillyTavern reads an entry's settings out of card data (numbers, flags, logic)."""

from __future__ import annotations

from enum import IntEnum

from pydantic import JsonValue

from bot.cards import LoreEntry

DEFAULT_SCAN_DEPTH = 4
MAX_SCAN_DEPTH = 100


class Logic(IntEnum):
    """SillyTavern's ``selectiveLogic`` for secondary keys."""

    AND_ANY = 0
    NOT_ALL = 1
    NOT_ANY = 2
    AND_ALL = 3


def selective_logic(entry: LoreEntry) -> Logic:
    """How an entry's secondary keys must match (``extensions.selectiveLogic``)."""
    try:
        return Logic(whole_number(entry.extensions.get("selectiveLogic"), Logic.AND_ANY))
    except ValueError:
        return Logic.AND_ANY


def is_case_sensitive(entry: LoreEntry) -> bool:
    """The V2 field when set, else SillyTavern's ``extensions.case_sensitive``."""
    if entry.case_sensitive is not None:
        return entry.case_sensitive
    return entry.extensions.get("case_sensitive") is True


def flag(entry: LoreEntry, name: str) -> bool:
    return entry.extensions.get(name) is True


def is_before_char(entry: LoreEntry) -> bool:
    """Whether the entry stands before the character's persona in the prompt.

    SillyTavern's ``convertCharacterBook`` (public/scripts/world-info.js) reads
    ``position: entry.extensions?.position ?? (entry.position === 'before_char' ?
    world_info_position.before : world_info_position.after)``: its own position number wins
    (0 is before), and otherwise only ``before_char`` is before, so ``after_char``, ``""``
    and a missing position all place the entry after the character.
    """
    raw = entry.extensions.get("position")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return raw == 0
    return entry.position == "before_char"


def whole_number(raw: JsonValue | float | None, default: int) -> int:
    """A whole number from card data (which may hold a float or a numeric string)."""
    if isinstance(raw, bool) or raw is None:
        return default
    try:
        value = int(float(raw))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return default
    return max(0, min(value, MAX_SCAN_DEPTH)) if value >= 0 else default
