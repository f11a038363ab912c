"""Lorebooks (a character's own, or a server world) and their entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cards import LoreBook, LoreEntry
from bot.cards.entry_ids import fill_ids
from bot.common.memo import LruCache
from bot.errors import AlreadyExists
from bot.store.characters import name_key
from bot.store.models import LorebookRow, LoreEntryRow, utcnow
from bot.store.results import rows_changed
from bot.values import Lorebook, StoredEntry, WorldSummary

# Entries are stored as their card documents; the book row holds the book's own fields.
_NOT_SETTINGS = {"entries"}
BOOKS_REMEMBERED = 256
# Books as last read, by (id, updated_at): one per Database, shared by its units of work.
BooksRead = LruCache[tuple[int, datetime], LoreBook]


# Built once (it runs for every reply). A world id of NULL matches no book.
_BOOKS_FOR_PROMPT = select(LorebookRow).where(
    or_(
        LorebookRow.character_id == bindparam("character_id"),
        LorebookRow.id == bindparam("world_id"),
    )
)


def books_read() -> BooksRead:
    return LruCache(BOOKS_REMEMBERED)


class LoreStore:
    def __init__(self, session: AsyncSession, books_read: BooksRead) -> None:
        self._session = session
        self._books_read = books_read

    async def create(
        self,
        *,
        guild_id: int,
        settings: LoreBook,
        character_id: int | None = None,
        world_name: str | None = None,
    ) -> Lorebook:
        """A new, empty book: a character's (``character_id``) or a world (``world_name``)."""
        if (character_id is None) == (world_name is None):
            raise ValueError("a lorebook belongs to a character or is a named world")
        if world_name is not None and await self.world(guild_id, world_name) is not None:
            raise AlreadyExists(f"A world named {world_name!r} already exists on this server.")
        row = LorebookRow(
            guild_id=guild_id,
            character_id=character_id,
            name=world_name,
            name_key=None if world_name is None else name_key(world_name),
            settings=settings.model_dump(mode="json", exclude=_NOT_SETTINGS),
        )
        self._session.add(row)
        try:
            await self._session.flush()
        except IntegrityError as exc:  # a concurrent create won the race
            raise AlreadyExists("That lorebook was just created by someone else.") from exc
        empty = settings.model_copy(update={"entries": ()})
        return Lorebook(row.id, guild_id, character_id, world_name, empty)

    async def add_entries(self, book_id: int, entries: Sequence[LoreEntry]) -> list[int]:
        """Append entries to a book (in order); returns their row ids.

        Every entry is stored with a card ``id`` unique in its book (``bot.cards.entry_ids``):
        a new entry keeps its own unless taken, else gets the next number. Entries stored
        before ids were given get theirs now, so that the ids never move afterwards."""
        stored = (
            await self._session.execute(
                select(LoreEntryRow.id, LoreEntryRow.data["id"])
                .where(LoreEntryRow.book_id == book_id)
                .order_by(LoreEntryRow.id)
            )
        ).all()
        old_ids, new_ids = fill_ids([card_id for _, card_id in stored], [e.id for e in entries])
        for (row_id, card_id), chosen in zip(stored, old_ids, strict=True):
            if card_id != chosen:
                row = await self._session.get(LoreEntryRow, row_id)
                if row is not None:
                    row.data = {**row.data, "id": chosen}
        rows = [
            LoreEntryRow(book_id=book_id, data={**e.model_dump(mode="json"), "id": chosen})
            for e, chosen in zip(entries, new_ids, strict=True)
        ]
        self._session.add_all(rows)
        await self._session.flush()
        await self._touch(book_id)
        return [row.id for row in rows]

    async def of_character(self, character_id: int) -> Lorebook | None:
        row = await self._session.scalar(
            select(LorebookRow).where(LorebookRow.character_id == character_id)
        )
        return await self._value(row) if row else None

    async def world(self, guild_id: int, name: str) -> Lorebook | None:
        row = await self._session.scalar(
            select(LorebookRow).where(
                LorebookRow.guild_id == guild_id, LorebookRow.name_key == name_key(name)
            )
        )
        return await self._value(row) if row else None

    async def get(self, book_id: int) -> Lorebook | None:
        row = await self._session.get(LorebookRow, book_id)
        return await self._value(row) if row else None

    async def worlds(self, guild_id: int) -> list[WorldSummary]:
        """The server's worlds by name, with how many entries each has."""
        counts = (
            select(LoreEntryRow.book_id, func.count().label("n"))
            .group_by(LoreEntryRow.book_id)
            .subquery()
        )
        rows = await self._session.execute(
            select(LorebookRow.id, LorebookRow.name, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.book_id == LorebookRow.id)
            .where(LorebookRow.guild_id == guild_id, LorebookRow.character_id.is_(None))
            .order_by(LorebookRow.name_key)
        )
        return [WorldSummary(id=i, name=str(n), entries=int(c)) for i, n, c in rows]

    async def entry(self, entry_id: int) -> tuple[Lorebook, StoredEntry] | None:
        """An entry with the book it belongs to (the book's entries are not loaded)."""
        row = await self._session.get(LoreEntryRow, entry_id)
        if row is None:
            return None
        book = await self._session.get(LorebookRow, row.book_id)
        assert book is not None  # the foreign key guarantees it
        return (
            await self._value(book, with_entries=False),
            StoredEntry(row.id, row.book_id, LoreEntry.model_validate(row.data)),
        )

    async def remove_entry(self, entry_id: int) -> bool:
        row = await self._session.get(LoreEntryRow, entry_id)
        if row is None:
            return False
        await self._session.delete(row)
        await self._session.flush()
        await self._touch(row.book_id)
        return True

    async def delete(self, book_id: int) -> bool:
        result = await self._session.execute(delete(LorebookRow).where(LorebookRow.id == book_id))
        return rows_changed(result) > 0

    async def for_prompt(self, character_id: int, world_id: int | None) -> list[LoreBook]:
        """The books a session's prompt scans: the character's own, then its world.

        Every reply reads them, and a book can hold hundreds of entries: a book is read whole
        only when it changed since this process last read it (every change to a book or its
        entries moves its ``updated_at``)."""
        rows = (
            await self._session.scalars(
                _BOOKS_FOR_PROMPT, {"character_id": character_id, "world_id": world_id}
            )
        ).all()
        books = []
        for row in sorted(rows, key=lambda r: r.character_id is None):  # the character's first
            key = (row.id, row.updated_at)
            book = self._books_read.get(key)
            if book is None:
                book = self._books_read[key] = (await self._value(row)).book
            books.append(book)
        return books

    async def _value(self, row: LorebookRow, *, with_entries: bool = True) -> Lorebook:
        ids: list[int] = []
        entries: list[LoreEntry] = []
        if with_entries:
            for entry_id, data in await self._session.execute(
                select(LoreEntryRow.id, LoreEntryRow.data)
                .where(LoreEntryRow.book_id == row.id)
                .order_by(LoreEntryRow.id)
            ):
                ids.append(entry_id)
                entries.append(LoreEntry.model_validate(data))
        book = LoreBook.model_validate({**row.settings, "entries": entries})
        return Lorebook(row.id, row.guild_id, row.character_id, row.name, book, tuple(ids))

    async def _touch(self, book_id: int) -> None:
        row = await self._session.get(LorebookRow, book_id)
        if row is not None:
            row.updated_at = utcnow()
            await self._session.flush()
