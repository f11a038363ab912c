"""Stable, unique entry ids, so lore written in Galatea does not clash in SillyTavern.

SillyTavern files a card's entries by ``id`` (``convertCharacterBook`` in its
public/scripts/world-info.js: ``result.entries[entry.id] = ...``), so two entries with one id
(or ``5`` and ``"5"``) silently become one there. Ids are given when entries are stored: an
entry keeps the id it came with unless an earlier entry holds it, and one without gets the
next number after the largest in the book (on a card whose ids run 1..n, n+1).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.cards import LoreBook, LoreEntry

EntryId = int | str


def _number(value: EntryId | None) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value.strip())
    return None


def _key(value: EntryId | None) -> str | None:
    """How SillyTavern tells ids apart: as object keys, so as text."""
    if value is None:
        return None
    number = _number(value)
    text = str(number) if number is not None else str(value)
    return text or None


def fill_ids(
    existing: Sequence[EntryId | None], new: Sequence[EntryId | None]
) -> tuple[list[EntryId], list[EntryId]]:
    """Ids for a book's entries in order: ``existing`` ones first, then ``new`` ones."""
    values = [*existing, *new]
    numbers = [n for n in map(_number, values) if n is not None and n >= 0]
    next_free = max(numbers, default=-1) + 1
    seen: set[str] = set()
    chosen: list[EntryId] = []
    for value in values:
        key = _key(value)
        if value is None or key is None or key in seen:
            value, key = next_free, str(next_free)
            next_free += 1
        seen.add(key)
        chosen.append(value)
    return chosen[: len(existing)], chosen[len(existing) :]


def with_unique_ids(entries: Sequence[LoreEntry]) -> tuple[LoreEntry, ...]:
    """``entries`` with every id present and unique (unchanged where they already are)."""
    ids, _ = fill_ids([e.id for e in entries], [])
    return tuple(
        entry if entry.id == chosen else entry.model_copy(update={"id": chosen})
        for entry, chosen in zip(entries, ids, strict=True)
    )


def for_sillytavern(book: LoreBook) -> LoreBook:
    """The book as it is exported: unique ids, and the title and case sensitivity also where
    SillyTavern reads them (``comment``, ``extensions.case_sensitive``)."""
    entries = []
    for entry in with_unique_ids(book.entries):
        changes: dict[str, object] = {}
        if entry.comment is None and entry.name:
            changes["comment"] = entry.name
        if entry.case_sensitive is not None and "case_sensitive" not in entry.extensions:
            changes["extensions"] = {**entry.extensions, "case_sensitive": entry.case_sensitive}
        entries.append(entry.model_copy(update=changes) if changes else entry)
    return book.model_copy(update={"entries": tuple(entries)})
