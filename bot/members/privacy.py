"""What Galatea forgets: a member's messages and characters on request (``/forget me``), and
every message past the retention period (``HISTORY_RETENTION_DAYS``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.policy import Caller, check_operator, check_own_data
from bot.store import Database
from bot.values import Character

log = logging.getLogger(__name__)

PRUNE_BATCH = 2_000  # messages erased per transaction by the retention prune (~10 ms each)


@dataclass(frozen=True, slots=True)
class Forgotten:
    """How much was erased for one member in one server."""

    messages: int
    characters: int = 0
    persona: bool = False
    sessions: int = 0  # sessions whose author's note or "started by" named the member
    cast_entries: int = 0  # cast entries the member added (their id removed)
    memory: int = 0  # pins they made, summaries holding their lines (bot/memory/)


class PrivacyService:
    def __init__(
        self, database: Database, *, after_forget: Callable[[], None] | None = None
    ) -> None:
        self._db = database
        self._after_forget = after_forget  # e.g. the memory service drops what it cached

    async def characters_of(self, guild_id: int, user_id: int) -> list[Character]:
        """The characters a member made in a server (shown before they confirm deleting)."""
        async with self._db.read() as uow:
            return await uow.characters.owned_by(guild_id, user_id)

    async def forget(
        self, guild_id: int, user_id: int, *, caller: Caller, characters: bool = False
    ) -> Forgotten:
        """Erase what the server's data says about the member: their messages, their persona,
        the author's notes they wrote, their id on sessions and cast entries and, if asked,
        their characters (with the sessions and history those characters had). One
        transaction: all or nothing. On SQLite the write-ahead log is then checkpointed, so the
        erased text is not left readable in the -wal file (README, Privacy). The member
        alone may ask for it."""
        check_own_data(caller, user_id)
        async with self._db.write() as uow:
            removed = await uow.messages.delete_by_author(guild_id, user_id)
            deleted = 0
            if characters:
                for character in await uow.characters.owned_by(guild_id, user_id):
                    deleted += int(await uow.characters.delete(character.id))
            persona = await uow.personas.clear(guild_id, user_id)
            sessions = await uow.sessions.forget_member(guild_id, user_id)
            cast = await uow.cast.forget_adder(guild_id, user_id)
            memory = await uow.memory.forget_member(guild_id, user_id)
        if self._after_forget is not None:
            self._after_forget()
        await self._db.checkpoint()
        log.info(
            "Forgot user %d in guild %d: %d messages, %d characters, persona %s, "
            "%d session fields, %d cast entries",
            user_id,
            guild_id,
            removed,
            deleted,
            "erased" if persona else "none",
            sessions,
            cast,
        )
        return Forgotten(
            messages=removed,
            characters=deleted,
            persona=persona,
            sessions=sessions,
            cast_entries=cast,
            memory=memory,
        )

    async def prune(
        self, retention_days: int, *, caller: Caller, now: datetime | None = None
    ) -> int:
        """Erase messages older than ``retention_days`` (0: keep forever); returns how many.
        A maintenance task: the operator runs it."""
        check_operator(caller)
        if retention_days <= 0:
            return 0
        cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
        removed = 0
        while True:
            # In batches: SQLite statements run on the event loop (bot/store/sqlite_driver.py),
            # and one delete of a year's messages would hold up every reply meanwhile.
            async with self._db.write() as uow:
                batch = await uow.messages.delete_older_than(cutoff, limit=PRUNE_BATCH)
            removed += batch
            if batch < PRUNE_BATCH:
                break
        if removed:
            log.info("Retention: erased %d messages older than %d days", removed, retention_days)
        return removed
