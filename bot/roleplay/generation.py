"""A character's replies: one pipeline (a turn on the model, the prompt, the writing) with four
variants: a new reply, a member's drafted line, another version of the latest reply, and more
of it. Reading what the prompt needs is one unit of work, storing the result another; the
model writes between them, with no transaction open.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from bot.common.keyed_locks import KeyedLocks
from bot.common.memo import LruCache
from bot.errors import InvalidInput, NotFound
from bot.inference.base import Backend, GenerationParams
from bot.inference.presets import apply_preset
from bot.inference.scheduler import Scheduler
from bot.prompt.formats import continued
from bot.prompt.render import PromptRenderer, RenderedPrompt
from bot.roleplay.context import PromptBuilder, speaker_of
from bot.roleplay.replies import OnText, Reply, ReplyWriter, join_continuation
from bot.store import Database
from bot.values import GuildSettings, Role, StoredMessage

OnQueued = Callable[[int], Awaitable[None]]
SESSIONS_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class _Ask:
    """What one reply asks of the model: the variants of the pipeline."""

    character_id: int | None = None  # None: the session's first character
    before_message: int | None = None  # the history ends just before this message
    reply_as: str | None = None  # a member's line, in their voice, instead of the character's
    extends: str = ""  # the text the model goes on with (continue)


@dataclass(frozen=True, slots=True)
class _Written:
    text: str
    prompt: RenderedPrompt
    character_id: int


class ReplyService:
    def __init__(
        self,
        database: Database,
        backend: Backend,
        renderer: PromptRenderer,
        prompts: PromptBuilder,
        scheduler: Scheduler,
        defaults: GenerationParams,
        *,
        reply_timeout: float,
    ) -> None:
        self._db = database
        self._backend = backend
        self._renderer = renderer
        self._prompts = prompts
        self._scheduler = scheduler
        self.defaults = defaults
        self._writer = ReplyWriter(
            backend, reply_timeout=reply_timeout, on_overflow=renderer.make_room
        )
        self._locks: KeyedLocks[int] = KeyedLocks()  # per session, only while in use
        # Per session, read once: (guild, channel) never change; who wrote last is kept here
        # as messages come in. The scheduler's turn needs both and they cost a read each.
        self._places: LruCache[int, tuple[int, int]] = LruCache(SESSIONS_REMEMBERED)
        self._last_authors: LruCache[int, int] = LruCache(SESSIONS_REMEMBERED)

    def stored(self, message: StoredMessage) -> None:
        """A member's line was stored: their turn on the model is the next one's."""
        if message.role is Role.HUMAN:
            self._last_authors[message.session_id] = message.author_id or 0

    def params_for(self, config: GuildSettings | None) -> GenerationParams:
        """The defaults with a server's sampler preset and reply length applied."""
        params = self.defaults
        if config is not None:
            params = apply_preset(params, config.sampler_preset)
            if config.max_reply_tokens:
                params = params.replace(max_new_tokens=config.max_reply_tokens)
        return params

    async def prompt_for(
        self, session_id: int, params: GenerationParams, *, character_id: int | None = None
    ) -> RenderedPrompt:
        """The prompt a character's next reply would get now (nothing is generated)."""
        context, messages = await self._prompts.load(session_id, character_id)
        return await self._prompts.render(session_id, context, messages, params.max_new_tokens)

    def per_session_locks(self) -> int:
        """Reply locks held or waited for now (a quiet session keeps none)."""
        return len(self._locks)

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
        meanwhile (the prompt is rendered once the turn on the model comes).
        """
        params = params or self.defaults
        async with self._turn(session_id, on_queued):
            started = time.monotonic()
            written = await self._write(session_id, _Ask(character_id), params, on_text)
            async with self._db.write() as uow:
                message = await uow.messages.add(
                    session_id=session_id,
                    role=Role.CHARACTER,
                    speaker=written.prompt.character_name,
                    content=written.text,
                    character_id=written.character_id,
                    discord_message_id=shown_as() if shown_as is not None else None,
                )
            self._prompts.stored(message)
            return self._writer.finished(session_id, message, written.prompt, started)

    async def impersonate(
        self, session_id: int, speaker: str, *, params: GenerationParams | None = None
    ) -> str:
        """Draft a member's next line in their voice (``speaker``: their persona name); the
        draft is not stored."""
        async with self._turn(session_id, None):
            ask = _Ask(reply_as=speaker)
            return (await self._write(session_id, ask, params or self.defaults, None)).text

    async def regenerate(
        self,
        session_id: int,
        *,
        params: GenerationParams | None = None,
        on_text: OnText | None = None,
    ) -> Reply:
        """Swipe: a new version of the character's latest reply; earlier versions are kept."""
        return await self._rewrite_latest(session_id, params, on_text, extend=False)

    async def continue_reply(
        self,
        session_id: int,
        *,
        params: GenerationParams | None = None,
        on_text: OnText | None = None,
    ) -> Reply:
        """Extend the character's latest reply where it stopped."""
        return await self._rewrite_latest(session_id, params, on_text, extend=True)

    async def _rewrite_latest(
        self,
        session_id: int,
        params: GenerationParams | None,
        on_text: OnText | None,
        *,
        extend: bool,
    ) -> Reply:
        """A new text for the latest reply: another version (a swipe), or the shown version
        carried on from where it stopped (``extend``)."""
        async with self._turn(session_id, None):
            started = time.monotonic()
            latest, speaker = await self._latest_reply(session_id)
            ask = _Ask(speaker, before_message=latest.id, extends=latest.content if extend else "")
            written = await self._write(session_id, ask, params or self.defaults, on_text)
            versions = list(latest.swipes or (latest.content,))
            if extend:
                index = latest.swipe_index
                versions[latest.swipe_index if latest.swipes else 0] = written.text
            else:
                versions.append(written.text)
                index = len(versions) - 1
            return await self._store_version(latest, versions, index, written, started)

    async def browse_versions(self, session_id: int, step: int) -> StoredMessage:
        """Show the previous (-1) or next (+1) version of the latest reply; it becomes history."""
        async with self._locks.hold(session_id):
            latest, _ = await self._latest_reply(session_id)
            versions = list(latest.swipes or (latest.content,))
            index = max(0, min(len(versions) - 1, latest.swipe_index + step))
            async with self._db.write() as uow:
                return await uow.messages.set_versions(
                    latest.id, content=versions[index], swipes=versions, swipe_index=index
                )

    async def delete_latest_reply(self, session_id: int) -> StoredMessage:
        """Remove the character's latest reply from the history; returns it."""
        async with self._locks.hold(session_id):
            latest, _ = await self._latest_reply(session_id)
            async with self._db.write() as uow:
                await uow.messages.mark_deleted(latest.id)
            return latest

    # The pipeline

    @asynccontextmanager
    async def _turn(self, session_id: int, on_queued: OnQueued | None) -> AsyncIterator[None]:
        """One reply per session at a time, and a fair turn on the model across channels."""
        async with self._locks.hold(session_id):
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
            async with self._scheduler.turn(
                guild_id=place[0], channel_id=place[1], user_id=author, on_long_wait=on_queued
            ):
                yield

    async def _write(
        self, session_id: int, ask: _Ask, params: GenerationParams, on_text: OnText | None
    ) -> _Written:
        """Read what the prompt needs (one unit of work), render it and have the model write;
        a prompt the server finds too long is rendered again with more room."""
        context, messages = await self._prompts.load(session_id, ask.character_id)
        if ask.before_message is not None:
            messages = [m for m in messages if m.id < ask.before_message]
        reply_tokens = params.max_new_tokens
        if ask.extends:
            reply_tokens += await self._backend.count_tokens(ask.extends)

        async def render() -> RenderedPrompt:
            prompt = await self._prompts.render(
                session_id, context, messages, reply_tokens, reply_as=ask.reply_as
            )
            if not ask.extends:
                return prompt
            text = continued(self._renderer.prompt_format, prompt.text, ask.extends)
            return replace(prompt, text=text)

        async def shown(text: str) -> None:
            if on_text is not None:
                await on_text(join_continuation(ask.extends, text))

        prompt = await render()
        text = await self._writer.write(
            session_id,
            prompt,
            params,
            shown if ask.extends and on_text is not None else on_text,
            rerender=render if ask.reply_as is None else None,
        )
        if ask.extends:
            text = join_continuation(ask.extends, text)
        return _Written(text, prompt, context.character.id)

    async def _store_version(
        self,
        latest: StoredMessage,
        versions: list[str],
        index: int,
        written: _Written,
        started: float,
    ) -> Reply:
        async with self._db.write() as uow:
            message = await uow.messages.set_versions(
                latest.id, content=written.text, swipes=versions, swipe_index=index
            )
        return self._writer.finished(latest.session_id, message, written.prompt, started)

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
