"""A channel's roleplay session: starting, stopping, resetting it, its author's note, and what
front ends show of it. Every change is held to bot/policy.py in the unit of work that makes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.errors import InvalidInput, NotFound
from bot.policy import (
    Caller,
    Place,
    check_can_start_sessions,
    check_channel_allowed,
    check_nsfw_allowed,
    check_session_rights,
)
from bot.roleplay.context import PromptBuilder, add_greeting, cast_of, load_cast
from bot.store import Database, UnitOfWork
from bot.values import CastMember, ChannelSession, Character, StoredMessage

log = logging.getLogger(__name__)

MAX_AUTHOR_NOTE = 2_000
MAX_NOTE_DEPTH = 100


@dataclass(frozen=True, slots=True)
class SessionView:
    """A session with its character, as front ends show it.

    ``character`` is the session's first character, or the one a reply is for; ``cast`` is
    every character in the scene."""

    session: ChannelSession
    character: Character
    message_count: int | None  # None unless asked for (counting costs a read per message)
    cast: tuple[CastMember, ...] = ()


class SessionService:
    def __init__(self, database: Database, prompts: PromptBuilder) -> None:
        self._db = database
        self._prompts = prompts

    async def check_start(self, place: Place, character: Character, *, caller: Caller) -> None:
        """Whether ``caller`` may start a roleplay with ``character`` at ``place`` (a front end
        asks before it opens a thread for one; ``start`` holds to the same rules)."""
        async with self._db.read() as uow:
            await _check_start(uow, place, character, caller)

    async def start(
        self, place: Place, character_id: int, *, caller: Caller, user_name: str | None = None
    ) -> tuple[ChannelSession, StoredMessage | None]:
        """Start a session (ending the channel's previous one); the greeting is its first line.

        ``{{char}}`` and ``{{user}}`` in the greeting become the character's name and
        ``user_name`` (default: the caller's name), and it is stored as shown; alternate
        greetings are its other versions, to browse before anyone answers.
        """
        async with self._db.write() as uow:
            character = await uow.characters.get(character_id)
            if character is None:
                raise NotFound("That character no longer exists.")
            await _check_start(uow, place, character, caller)
            session = await uow.sessions.start(
                guild_id=place.guild_id,
                channel_id=place.channel_id,
                character_id=character_id,
                started_by=caller.user_id,
            )
            greeting = await add_greeting(
                uow, session.id, character, user_name or caller.display_name
            )
        log.info(
            "Session %d started in channel %d with character %d",
            session.id,
            place.channel_id,
            character_id,
        )
        return session, greeting

    async def active(self, channel_id: int, *, count_messages: bool = False) -> SessionView | None:
        async with self._db.read() as uow:
            scene = await uow.scenes.active_in_channel(channel_id)
            if scene is None:
                return None
            cast = await cast_of(uow, scene)
            return await view_of(uow, scene.session, count_messages=count_messages, cast=cast)

    async def for_change(
        self, channel_id: int, *, caller: Caller, count_messages: bool = False
    ) -> SessionView:
        """The channel's running session, when ``caller`` may change it (``PermissionDenied``
        otherwise): front ends ask before they stop a reply for a change."""
        view = await self.active(channel_id, count_messages=count_messages)
        if view is None:
            raise NotFound("No roleplay is running here. Start one with `/session start`.")
        check_session_rights(caller, view.session)
        return view

    async def resume_latest(self, channel_id: int) -> SessionView | None:
        """Reactivate the channel's most recent session (the console resumes this way)."""
        async with self._db.write() as uow:
            session = await uow.sessions.latest_in_channel(channel_id)
            if session is None:
                return None
            if not session.active:
                session = await uow.sessions.reactivate(session.id)
            return await view_of(uow, session, count_messages=True)

    async def stop(self, channel_id: int, *, caller: Caller) -> bool:
        """End the channel's roleplay (``caller`` held to ``check_session_rights``)."""
        async with self._db.write() as uow:
            running = await uow.sessions.active_in_channel(channel_id)
            if running is not None:
                check_session_rights(caller, running)
            return await uow.sessions.end_in_channel(channel_id) > 0

    async def reset(
        self, session_id: int, *, caller: Caller, greet_as: str | None = None
    ) -> tuple[int, StoredMessage | None]:
        """Forget a session's history: (messages removed, the greeting that opens it again,
        with ``{{user}}`` as ``greet_as``; None when not asked for or there is none)."""
        async with self._db.write() as uow:
            session = await _changeable(uow, session_id, caller)
            removed = await uow.messages.clear(session_id)
            await uow.memory.clear(session_id)  # what it summarized and pinned goes with it
            greeting = None
            if greet_as is not None:
                character = await uow.characters.get(session.character_id)
                if character is not None:
                    greeting = await add_greeting(uow, session_id, character, greet_as)
        self._prompts.forget(session_id)
        return removed, greeting

    async def set_author_note(
        self, session_id: int, text: str, depth: int, *, caller: Caller
    ) -> ChannelSession:
        """The session's author's note (empty: none), inserted before the last ``depth``
        messages of every prompt as a system line; signed by the caller."""
        if len(text) > MAX_AUTHOR_NOTE:
            raise InvalidInput(f"An author's note can be at most {MAX_AUTHOR_NOTE:,} characters.")
        if not 0 <= depth <= MAX_NOTE_DEPTH:
            raise InvalidInput(f"The note's depth must be between 0 and {MAX_NOTE_DEPTH}.")
        async with self._db.write() as uow:
            await _changeable(uow, session_id, caller)
            return await uow.sessions.set_author_note(
                session_id, text.strip(), depth, caller.user_id
            )


async def view_of(
    uow: UnitOfWork,
    session: ChannelSession,
    *,
    count_messages: bool,
    cast: tuple[CastMember, ...] | None = None,
) -> SessionView:
    """The session as front ends show it, read in ``uow``."""
    if cast is None:
        cast = await load_cast(uow, session)
    character = next((m.character for m in cast if m.character.id == session.character_id), None)
    if character is None:
        raise NotFound("This session's character was deleted.")
    count = await uow.messages.count(session.id) if count_messages else None
    return SessionView(session=session, character=character, message_count=count, cast=cast)


async def _check_start(uow: UnitOfWork, place: Place, character: Character, caller: Caller) -> None:
    config = await uow.guilds.get(place.guild_id)
    check_channel_allowed(config, place)
    check_can_start_sessions(config, caller)
    check_nsfw_allowed(config, character, place)


async def _changeable(uow: UnitOfWork, session_id: int, caller: Caller) -> ChannelSession:
    session = await uow.sessions.get(session_id)
    if session is None:
        raise NotFound("That roleplay has ended.")
    check_session_rights(caller, session)
    return session
