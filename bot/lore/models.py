"""Stored lorebooks as the core sees them.

A lorebook's fields and entries are ``bot.cards.LoreBook`` / ``LoreEntry`` values, the same
ones a character card carries, so a card's ``character_book`` is stored and exported again
without translation, and lore added with ``/lore add`` exports like any card's.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.cards import LoreBook, LoreEntry


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One lorebook entry with its row id (what ``/lore show`` and ``/lore remove`` take)."""

    id: int
    book_id: int
    entry: LoreEntry

    @property
    def title(self) -> str:
        """A short label: the entry's name or comment, else its keys."""
        label = self.entry.name or self.entry.comment or ", ".join(self.entry.keys)
        return " ".join(label.split())[:80] or "(no keys)"


@dataclass(frozen=True, slots=True)
class Lorebook:
    """A character's own lorebook (``character_id``) or a server world (``name``)."""

    id: int
    guild_id: int
    character_id: int | None
    name: str | None
    book: LoreBook  # the book's fields; ``book.entries`` holds the entries in order
    entry_ids: tuple[int, ...] = ()  # the row id of each of ``book.entries``

    def stored_entries(self) -> list[StoredEntry]:
        return [
            StoredEntry(id=entry_id, book_id=self.id, entry=entry)
            for entry_id, entry in zip(self.entry_ids, self.book.entries, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class WorldSummary:
    id: int
    name: str
    entries: int
