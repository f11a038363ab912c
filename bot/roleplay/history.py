"""A session's history: members' lines in, edits and deletions that follow the front end, the
Discord messages that show each line, and export."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.roleplay.export import export_session
from bot.store import Database, UnitOfWork
from bot.values import Role, StoredMessage

OnStored = Callable[[StoredMessage], None]


async def add_human_line(
    uow: UnitOfWork,
    session_id: int,
    *,
    speaker: str,
    content: str,
    author_id: int | None = None,
    discord_message_id: int | None = None,
) -> StoredMessage:
    """Store a member's line in ``uow`` (tell ``HistoryService.stored`` once it commits)."""
    return await uow.messages.add(
        session_id=session_id,
        role=Role.HUMAN,
        speaker=speaker,
        content=content,
        author_id=author_id,
        discord_message_id=discord_message_id,
    )


class HistoryService:
    def __init__(
        self,
        database: Database,
        history_limit: int,
        on_stored: OnStored,
        on_memory_stale: Callable[[int], None] = lambda session_id: None,
    ) -> None:
        self._db = database
        self._history_limit = history_limit
        self._on_stored = on_stored  # the prompt builder and reply turns keep up from memory
        self._on_memory_stale = on_memory_stale  # a summary covering a changed line restarts

    def stored(self, message: StoredMessage) -> None:
        """``message`` was committed by this process (the next prompt needs no read for it)."""
        self._on_stored(message)

    async def add_human_message(
        self,
        session_id: int,
        *,
        speaker: str,
        content: str,
        author_id: int | None = None,
        discord_message_id: int | None = None,
    ) -> StoredMessage:
        async with self._db.write() as uow:
            message = await add_human_line(
                uow,
                session_id,
                speaker=speaker,
                content=content,
                author_id=author_id,
                discord_message_id=discord_message_id,
            )
        self.stored(message)
        return message

    async def recent(self, session_id: int, limit: int | None = None) -> list[StoredMessage]:
        """The last ``limit`` visible lines (default: the prompt window's), oldest first."""
        async with self._db.read() as uow:
            return await uow.messages.recent(session_id, limit or self._history_limit)

    async def export(self, session_id: int) -> tuple[str, str]:
        """The whole visible history as (text, JSON), read in bounded batches."""
        async with self._db.read() as uow:
            return await export_session(uow, session_id)

    async def edit_by_discord_id(self, discord_message_id: int, content: str) -> bool:
        """A Discord message was edited: the history follows."""
        async with self._db.write() as uow:
            message = await uow.messages.by_discord_id(discord_message_id)
            if message is None:
                return False
            await uow.messages.edit(message.id, content)
            stale = await uow.memory.summaries_after_change(message.session_id, message.id)
        if stale:
            self._on_memory_stale(message.session_id)
        return True

    async def delete_by_discord_id(self, discord_message_id: int) -> bool:
        """A Discord message was deleted: it leaves the history (kept as deleted)."""
        async with self._db.write() as uow:
            message = await uow.messages.by_discord_id(discord_message_id)
            if message is None:
                return False
            await uow.messages.mark_deleted(message.id)
            stale = await uow.memory.summaries_after_change(message.session_id, message.id)
        if stale:
            self._on_memory_stale(message.session_id)
        return True

    async def attach_discord_id(
        self, message_id: int, discord_message_id: int, tail_ids: Sequence[int] | None = None
    ) -> None:
        """Link a stored line to the Discord message(s) showing it (a long reply: several;
        ``tail_ids`` None leaves the others as they are)."""
        async with self._db.write() as uow:
            await uow.messages.set_discord_id(message_id, discord_message_id, tail_ids)

    async def discard(self, message_id: int) -> None:
        """A stored reply that could not be shown leaves the history (kept as deleted)."""
        async with self._db.write() as uow:
            await uow.messages.mark_deleted(message_id)

    async def by_discord_id(self, discord_message_id: int) -> StoredMessage | None:
        async with self._db.read() as uow:
            return await uow.messages.by_discord_id(discord_message_id)
