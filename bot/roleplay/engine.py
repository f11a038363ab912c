"""The session engine: who spoke, what the next prompt holds, what is stored.

Front ends (Discord cogs, the console) call this; it reads and writes the store, renders the
prompt (bot/roleplay/context.py) and has the reply written (bot/roleplay/replies.py). It knows
nothing of how the reply is shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace

from bot.common.keyed_locks import KeyedLocks
from bot.common.memo import BoundedDict
from bot.errors import InvalidInput, NotFound
from bot.inference.base import Backend, GenerationParams
from bot.inference.presets import apply_preset
from bot.inference.scheduler import Scheduler
from bot.memory.service import MemoryService
from bot.policy import Caller, check_session_rights
from bot.prompt.render import PromptRenderer, RenderedPrompt
from bot.roleplay.context import PromptBuilder, add_greeting, cast_of, load_cast, speaker_of
from bot.roleplay.export import export_session
from bot.roleplay.replies import OnText, Reply, ReplyWriter, join_continuation
from bot.store import Database, UnitOfWork
from bot.values import (
    CastMember,
    ChannelSession,
    Character,
    GuildSettings,
    PromptFormat,
    Role,
    StoredMessage,
)

log = logging.getLogger(__name__)

OnQueued = Callable[[int], Awaitable[None]]
SESSIONS_REMEMBERED = 10_000
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


class SessionEngine:
    def __init__(
        self,
        database: Database,
        backend: Backend,
        renderer: PromptRenderer,
        defaults: GenerationParams,
        *,
        history_limit: int = 200,
        scheduler: Scheduler | None = None,
        reply_timeout: float = 300.0,
        memory: MemoryService | None = None,
    ) -> None:
        self._db = database
        self.memory = memory
        self.backend = backend
        self.renderer = renderer
        self.defaults = defaults
        self._history_limit = history_limit
        self.scheduler = scheduler or Scheduler(slots=backend.capabilities.max_concurrency)
        self._prompts = PromptBuilder(database, renderer, history_limit, memory)
        self._writer = ReplyWriter(
            backend, reply_timeout=reply_timeout, on_overflow=renderer.make_room
        )
        self._reply_locks: KeyedLocks[int] = KeyedLocks()  # per session, only while in use
        # Per session, read once: (guild, channel) never change; who wrote last is kept here
        # as messages come in. The scheduler's turn needs both and they cost a read each.
        self._places: BoundedDict[int, tuple[int, int]] = BoundedDict(SESSIONS_REMEMBERED)
        self._last_authors: BoundedDict[int, int] = BoundedDict(SESSIONS_REMEMBERED)

    # Sessions

    async def start(
        self,
        *,
        guild_id: int,
        channel_id: int,
        character_id: int,
        started_by: int | None,
        user_name: str = "You",
    ) -> tuple[ChannelSession, StoredMessage | None]:
        """Start a session (ending the channel's previous one); the greeting is its first line.

        ``{{char}}`` and ``{{user}}`` in the greeting become the character's name and
        ``user_name`` (whoever started the session), and it is stored as shown; alternate
        greetings are its other versions, to browse before anyone answers.
        """
        async with self._db.write() as uow:
            character = await uow.characters.get(character_id)
            if character is None:
                raise NotFound("That character no longer exists.")
            session = await uow.sessions.start(
                guild_id=guild_id,
                channel_id=channel_id,
                character_id=character_id,
                started_by=started_by,
            )
            greeting = await add_greeting(uow, session.id, character, user_name)
        log.info(
            "Session %d started in channel %d with character %d",
            session.id,
            channel_id,
            character_id,
        )
        return session, greeting

    async def active(self, channel_id: int, *, count_messages: bool = False) -> SessionView | None:
        async with self._db.read() as uow:
            scene = await uow.scenes.active_in_channel(channel_id)
            if scene is None:
                return None
            return await self._view(
                uow, scene.session, count_messages=count_messages, cast=await cast_of(uow, scene)
            )

    async def resume_latest(self, channel_id: int) -> SessionView | None:
        """Reactivate the channel's most recent session (the console resumes this way)."""
        async with self._db.write() as uow:
            session = await uow.sessions.latest_in_channel(channel_id)
            if session is None:
                return None
            if not session.active:
                session = await uow.sessions.reactivate(session.id)
            return await self._view(uow, session, count_messages=True)

    async def stop(self, channel_id: int, *, caller: Caller | None = None) -> bool:
        """End the channel's roleplay. ``caller``: the member asking, held to
        ``check_session_rights`` (None: the operator, at the console or in a test)."""
        async with self._db.write() as uow:
            if caller is not None:
                running = await uow.sessions.active_in_channel(channel_id)
                if running is not None:
                    check_session_rights(caller, running)
            return await uow.sessions.end_in_channel(channel_id) > 0

    async def reset(self, session_id: int, *, caller: Caller | None = None) -> int:
        """Forget a session's history; the greeting is posted again by the caller if wanted."""
        async with self._db.write() as uow:
            await _check_rights(uow, session_id, caller)
            removed = await uow.messages.clear(session_id)
            await uow.memory.clear(session_id)  # what it summarized and pinned goes with it
        self._prompts.forget(session_id)
        if self.memory is not None:
            self.memory.forget(session_id)
        return removed

    async def set_author_note(
        self,
        session_id: int,
        text: str,
        depth: int,
        by: int | None = None,
        *,
        caller: Caller | None = None,
    ) -> ChannelSession:
        """The session's author's note (empty: none), inserted before the last ``depth``
        messages of every prompt as a system line; ``by`` is the member who wrote it."""
        if len(text) > MAX_AUTHOR_NOTE:
            raise InvalidInput(f"An author's note can be at most {MAX_AUTHOR_NOTE:,} characters.")
        if not 0 <= depth <= MAX_NOTE_DEPTH:
            raise InvalidInput(f"The note's depth must be between 0 and {MAX_NOTE_DEPTH}.")
        async with self._db.write() as uow:
            await _check_rights(uow, session_id, caller)
            return await uow.sessions.set_author_note(session_id, text.strip(), depth, by)

    async def repost_greeting(self, session_id: int, user_name: str) -> StoredMessage | None:
        """After a reset: the greeting opens the story again (None when there is none)."""
        async with self._db.write() as uow:
            session = await uow.sessions.get(session_id)
            character = await uow.characters.get(session.character_id) if session else None
            if character is None:
                return None
            return await add_greeting(uow, session_id, character, user_name)

    async def _view(
        self,
        uow: UnitOfWork,
        session: ChannelSession,
        *,
        count_messages: bool,
        cast: tuple[CastMember, ...] | None = None,
    ) -> SessionView:
        if cast is None:
            cast = await load_cast(uow, session)
        character = next(
            (m.character for m in cast if m.character.id == session.character_id), None
        )
        if character is None:
            raise NotFound("This session's character was deleted.")
        count = await uow.messages.count(session.id) if count_messages else None
        return SessionView(session=session, character=character, message_count=count, cast=cast)

    # Messages

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
            message = await uow.messages.add(
                session_id=session_id,
                role=Role.HUMAN,
                speaker=speaker,
                content=content,
                author_id=author_id,
                discord_message_id=discord_message_id,
            )
        self._last_authors[session_id] = author_id or 0
        self._prompts.stored(message)
        return message

    async def history(self, session_id: int, limit: int | None = None) -> list[StoredMessage]:
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
        self._memory_changed(message.session_id, stale)
        return True

    async def delete_by_discord_id(self, discord_message_id: int) -> bool:
        """A Discord message was deleted: it leaves the history (kept as deleted)."""
        async with self._db.write() as uow:
            message = await uow.messages.by_discord_id(discord_message_id)
            if message is None:
                return False
            await uow.messages.mark_deleted(message.id)
            stale = await uow.memory.summaries_after_change(message.session_id, message.id)
        self._memory_changed(message.session_id, stale)
        return True

    def _memory_changed(self, session_id: int, stale_summaries: int) -> None:
        """An old line folded into a summary changed: prompts read the memory again."""
        if stale_summaries and self.memory is not None:
            self.memory.forget(session_id)

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

    async def message_by_discord_id(self, discord_message_id: int) -> StoredMessage | None:
        async with self._db.read() as uow:
            return await uow.messages.by_discord_id(discord_message_id)

    # Replies

    def params_for(self, config: GuildSettings | None) -> GenerationParams:
        """The defaults with a server's sampler preset and reply length applied."""
        params = self.defaults
        if config is not None:
            params = apply_preset(params, config.sampler_preset)
            if config.max_reply_tokens:
                params = params.replace(max_new_tokens=config.max_reply_tokens)
        return params

    async def prompt_for(
        self,
        session_id: int,
        params: GenerationParams,
        *,
        before_message: int | None = None,
        character_id: int | None = None,
    ) -> RenderedPrompt:
        """Render the prompt for a character's next reply in a session (the session's first
        character unless ``character_id`` names another in the scene).

        ``before_message``: render as if the history ended just before that message (to
        regenerate or continue it).
        """
        context, messages = await self._prompts.load(session_id, character_id)
        if before_message is not None:
            messages = [m for m in messages if m.id < before_message]
        return await self._prompts.render(session_id, context, messages, params.max_new_tokens)

    def _lock(self, session_id: int) -> AbstractAsyncContextManager[None]:
        return self._reply_locks.hold(session_id)

    def per_session_locks(self) -> int:
        """Reply locks held or waited for now (a quiet session keeps none)."""
        return len(self._reply_locks)

    @asynccontextmanager
    async def _turn(self, session_id: int, on_queued: OnQueued | None) -> AsyncIterator[None]:
        """One reply per session at a time, and a fair turn on the model across channels."""
        async with self._lock(session_id):
            place = self._places.get(session_id)
            author = self._last_authors.get(session_id)
            if place is None or author is None:
                async with self._db.read() as uow:
                    session = await uow.sessions.get(session_id)
                    latest = await uow.messages.recent(session_id, 1)
                if session is None:
                    raise NotFound("That session no longer exists.")
                place = self._places[session_id] = (session.guild_id, session.channel_id)
                author = next((m.author_id for m in latest if m.author_id is not None), 0)
            async with self.scheduler.turn(
                guild_id=place[0],
                channel_id=place[1],
                user_id=author,
                on_long_wait=on_queued,
            ):
                yield

    async def generate_reply(
        self,
        session_id: int,
        *,
        character_id: int | None = None,
        params: GenerationParams | None = None,
        on_text: OnText | None = None,
        on_queued: OnQueued | None = None,
        shown_as: Callable[[], int | None] | None = None,
    ) -> Reply:
        """Generate, clean and store a character's next line (the session's first character
        unless ``character_id`` names another in the scene).

        ``on_text`` receives the cleaned reply so far, each time it grows; ``on_queued`` the
        queue position when the model is busy for a while; ``shown_as``, asked when the reply
        is stored, the Discord id of the message already showing it (stored with it). One
        reply per session at a time: a second call waits and then answers everything said
        meanwhile (the prompt is rendered once the turn on the model comes, from the newest
        history).
        """
        params = params or self.defaults
        async with self._turn(session_id, on_queued):
            started = time.monotonic()
            context, messages = await self._prompts.load(session_id, character_id)
            prompt = await self._prompts.render(
                session_id, context, messages, params.max_new_tokens
            )
            text = await self._writer.write(
                session_id,
                prompt,
                params,
                on_text,
                rerender=lambda: self._prompts.render(
                    session_id, context, messages, params.max_new_tokens
                ),
            )
            async with self._db.write() as uow:
                message = await uow.messages.add(
                    session_id=session_id,
                    role=Role.CHARACTER,
                    speaker=prompt.character_name,
                    content=text,
                    character_id=context.character.id,
                    discord_message_id=shown_as() if shown_as is not None else None,
                )
            self._prompts.stored(message)
            return self._writer.finished(session_id, message, prompt, started)

    async def impersonate(
        self, session_id: int, speaker: str, *, params: GenerationParams | None = None
    ) -> str:
        """Draft a member's next line in their voice (``speaker``: their persona name); the
        draft is not stored."""
        params = params or self.defaults
        async with self._turn(session_id, None):
            context, messages = await self._prompts.load(session_id)
            prompt = await self._prompts.render(
                session_id, context, messages, params.max_new_tokens, reply_as=speaker
            )
            return await self._writer.write(session_id, prompt, params, None)

    async def regenerate(
        self,
        session_id: int,
        *,
        params: GenerationParams | None = None,
        on_text: OnText | None = None,
    ) -> Reply:
        """Swipe: a new version of the character's latest reply; earlier versions are kept."""
        params = params or self.defaults
        async with self._turn(session_id, None):
            started = time.monotonic()
            latest, speaker = await self._latest_reply(session_id)
            prompt = await self.prompt_for(
                session_id, params, before_message=latest.id, character_id=speaker
            )
            text = await self._writer.write(
                session_id,
                prompt,
                params,
                on_text,
                rerender=lambda: self.prompt_for(
                    session_id, params, before_message=latest.id, character_id=speaker
                ),
            )
            versions = [*(latest.swipes or (latest.content,)), text]
            async with self._db.write() as uow:
                message = await uow.messages.set_versions(
                    latest.id, content=text, swipes=versions, swipe_index=len(versions) - 1
                )
            return self._writer.finished(session_id, message, prompt, started)

    async def continue_reply(
        self,
        session_id: int,
        *,
        params: GenerationParams | None = None,
        on_text: OnText | None = None,
    ) -> Reply:
        """Extend the character's latest reply where it stopped."""
        params = params or self.defaults
        async with self._turn(session_id, None):
            started = time.monotonic()
            latest, speaker = await self._latest_reply(session_id)
            context, messages = await self._prompts.load(session_id, speaker)
            earlier = [m for m in messages if m.id < latest.id]
            reply_tokens = params.max_new_tokens + await self.backend.count_tokens(latest.content)
            prompt = await self._prompts.render(session_id, context, earlier, reply_tokens)
            joiner = " " if self.renderer.prompt_format is PromptFormat.PYGMALION else ""
            prompt = replace(prompt, text=prompt.text + joiner + latest.content)

            async def shown(text: str) -> None:
                if on_text is not None:
                    await on_text(join_continuation(latest.content, text))

            more = await self._writer.write(session_id, prompt, params, shown)
            text = join_continuation(latest.content, more)
            versions = list(latest.swipes or (latest.content,))
            versions[latest.swipe_index if latest.swipes else 0] = text
            async with self._db.write() as uow:
                message = await uow.messages.set_versions(
                    latest.id, content=text, swipes=versions, swipe_index=latest.swipe_index
                )
            return self._writer.finished(session_id, message, prompt, started)

    async def browse_versions(self, session_id: int, step: int) -> StoredMessage:
        """Show the previous (-1) or next (+1) version of the latest reply; it becomes history."""
        async with self._lock(session_id):
            latest, _ = await self._latest_reply(session_id)
            versions = list(latest.swipes or (latest.content,))
            index = max(0, min(len(versions) - 1, latest.swipe_index + step))
            async with self._db.write() as uow:
                return await uow.messages.set_versions(
                    latest.id, content=versions[index], swipes=versions, swipe_index=index
                )

    async def delete_latest_reply(self, session_id: int) -> StoredMessage:
        """Remove the character's latest reply from the history; returns it."""
        async with self._lock(session_id):
            latest, _ = await self._latest_reply(session_id)
            async with self._db.write() as uow:
                await uow.messages.mark_deleted(latest.id)
            return latest

    async def _latest_reply(self, session_id: int) -> tuple[StoredMessage, int | None]:
        """The latest message when a character spoke it, and which character that was."""
        async with self._db.read() as uow:
            latest = await uow.messages.latest(session_id)
            session = await uow.sessions.get(session_id)
        if latest is None or latest.role is not Role.CHARACTER:
            raise InvalidInput(
                "Only the character's latest reply can be changed, and someone has spoken since."
            )
        return latest, speaker_of(latest, session)


async def _check_rights(uow: UnitOfWork, session_id: int, caller: Caller | None) -> None:
    """Hold ``caller`` to ``check_session_rights`` for the session (None: the operator)."""
    if caller is None:
        return
    session = await uow.sessions.get(session_id)
    if session is not None:
        check_session_rights(caller, session)
