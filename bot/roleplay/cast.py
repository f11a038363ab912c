"""A scene's cast: characters joining and leaving a running roleplay, and pausing it."""

from __future__ import annotations

import logging

from bot.errors import AlreadyExists, InvalidInput, NotFound
from bot.policy import Caller, Place, check_nsfw_allowed, check_session_rights
from bot.roleplay.context import load_cast
from bot.store import Database, UnitOfWork
from bot.values import CastMember, ChannelSession, Character

log = logging.getLogger(__name__)

MAX_CAST_LIMIT = 10  # /config characters max: at most this (webhooks per channel are 15)


class CastService:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def cast(self, session_id: int) -> tuple[CastMember, ...]:
        async with self._db.read() as uow:
            session = await _session(uow, session_id, None)
            return await load_cast(uow, session)

    async def add(
        self,
        session_id: int,
        character: Character,
        *,
        added_by: int | None,
        max_characters: int,
        full_history: bool = False,
        caller: Caller,
        place: Place | None = None,
    ) -> tuple[CastMember, ...]:
        """``character`` joins the scene; it knows only what is said from now on unless
        ``full_history``. ``place``: where it plays, held to the server's NSFW rule."""
        async with self._db.write() as uow:
            session = await _session(uow, session_id, caller)
            if place is not None:
                check_nsfw_allowed(await uow.guilds.get(place.guild_id), character, place)
            cast = await load_cast(uow, session)
            if any(m.character.id == character.id for m in cast):
                raise AlreadyExists(f"{character.name} is already in this roleplay.")
            if len(cast) >= max_characters:
                raise InvalidInput(
                    f"This roleplay already has {len(cast)} characters, the server's limit. "
                    "Remove one with `/session remove`, or an admin can raise the limit with "
                    "`/config characters`."
                )
            since = None
            if not full_history:
                latest = await uow.messages.latest(session_id)
                since = latest.id if latest is not None else 0
            await uow.cast.add(session_id, character.id, since_message_id=since, added_by=added_by)
            cast = await load_cast(uow, session)
        log.info("Character %d joined session %d", character.id, session_id)
        return cast

    async def remove(
        self, session_id: int, character: Character, *, caller: Caller
    ) -> tuple[CastMember, ...]:
        """``character`` leaves the scene (its lines stay in the history)."""
        async with self._db.write() as uow:
            session = await _session(uow, session_id, caller)
            if character.id == session.character_id:
                raise InvalidInput(
                    f"{character.name} opened this roleplay and cannot leave it; "
                    "`/session stop` ends the whole roleplay."
                )
            if not await uow.cast.remove(session_id, character.id):
                raise NotFound(f"{character.name} is not in this roleplay.")
            cast = await load_cast(uow, session)
        log.info("Character %d left session %d", character.id, session_id)
        return cast

    async def set_paused(self, session_id: int, paused: bool, *, caller: Caller) -> ChannelSession:
        """Paused: messages are still recorded, but no character answers."""
        async with self._db.write() as uow:
            await _session(uow, session_id, caller)
            return await uow.sessions.set_paused(session_id, paused)


async def _session(uow: UnitOfWork, session_id: int, caller: Caller | None) -> ChannelSession:
    """The running session; ``caller`` (None: only reading) must have the right to change it."""
    session = await uow.sessions.get(session_id)
    if session is None:
        raise NotFound("That roleplay has ended.")
    if caller is not None:
        check_session_rights(caller, session)
    return session
