"""Channel roleplay: which messages join the story, when the character answers, and how bursts
of messages become one reply.

The Discord cog turns each Discord message into an ``IncomingMessage`` and supplies a
``ReplyPresenter`` that shows the reply; everything else is decided here.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.errors import GalateaError, PermissionDenied
from bot.guild_config import GuildConfigService
from bot.policy import Cooldowns, Place, check_channel_allowed, check_nsfw_allowed
from bot.roleplay.engine import SessionEngine, SessionView
from bot.values import GuildSettings, StoredMessage

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 8_000  # longer than any Discord message; anything past it is cut


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A message in a channel, described without Discord types."""

    place: Place
    message_id: int
    author_id: int
    author_name: str  # the server display name
    content: str
    from_bot: bool = False
    from_webhook: bool = False
    is_system: bool = False
    mentions_bot: bool = False
    replies_to_character: bool = False


class Outcome(StrEnum):
    NO_SESSION = "no session"
    IGNORED = "ignored"  # bots, webhooks, system messages, empty text
    OUT_OF_CHARACTER = "out of character"
    NOT_ALLOWED = "not allowed here"
    RECORDED = "recorded"  # joins the history, no reply asked for
    REPLY_SCHEDULED = "reply scheduled"


class ReplyPresenter(Protocol):
    """Shows one reply in a channel as it is generated."""

    async def start(self) -> None:
        """The reply is being generated (show typing)."""
        ...

    async def queued(self, position: int) -> None:
        """The model is busy: this reply waits, ``position`` in line."""
        ...

    async def update(self, text: str) -> None:
        """The cleaned reply so far."""
        ...

    async def finish(self, message: StoredMessage) -> int | None:
        """The final reply; returns the id of the message that shows it."""
        ...

    async def fail(self, user_message: str) -> None:
        """Tell the channel, briefly, that no reply came and why."""
        ...


PresenterFactory = Callable[[SessionView], ReplyPresenter]


def is_out_of_character(content: str, prefix: str) -> bool:
    text = content.strip()
    if prefix and text.startswith(prefix):
        return True
    return text.startswith("((") and text.endswith("))")


def names_character(content: str, name: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(name) + r"(?!\w)", content, re.IGNORECASE) is not None


class ChannelRoleplay:
    def __init__(
        self,
        engine: SessionEngine,
        config: GuildConfigService,
        presenter_factory: PresenterFactory,
    ) -> None:
        self._engine = engine
        self._config = config
        self._presenter_factory = presenter_factory
        self._cooldowns = Cooldowns()
        self._pending: dict[int, asyncio.Event] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}

    async def handle(self, message: IncomingMessage) -> Outcome:
        """Take one message: record it when it belongs to the story, schedule a reply."""
        if message.from_bot or message.from_webhook or message.is_system:
            return Outcome.IGNORED
        content = message.content.strip()
        if not content:
            return Outcome.IGNORED
        view = await self._engine.active(message.place.channel_id)
        if view is None:
            return Outcome.NO_SESSION
        config = await self._config.get(message.place.guild_id)
        if is_out_of_character(content, config.ooc_prefix):
            return Outcome.OUT_OF_CHARACTER
        try:
            check_channel_allowed(config, message.place)
        except PermissionDenied:
            return Outcome.NOT_ALLOWED
        await self._engine.add_human_message(
            view.session.id,
            speaker=message.author_name,
            content=content[:MAX_MESSAGE_CHARS],
            author_id=message.author_id,
            discord_message_id=message.message_id,
        )
        if not self._wants_reply(message, view, config):
            return Outcome.RECORDED
        if self._cooldowns.remaining(
            message.place.guild_id, message.author_id, config.user_cooldown_seconds
        ):
            return Outcome.RECORDED
        self.schedule(view, message.place, config)
        return Outcome.REPLY_SCHEDULED

    def _wants_reply(
        self, message: IncomingMessage, view: SessionView, config: GuildSettings
    ) -> bool:
        if config.reply_mode != "mention":
            return True
        return (
            message.mentions_bot
            or message.replies_to_character
            or names_character(message.content, view.character.name)
        )

    def schedule(self, view: SessionView, place: Place, config: GuildSettings) -> None:
        """Ask for a reply. While one is being generated, further requests merge into one more
        reply that covers everything said in the meantime."""
        channel = place.channel_id
        self._pending.setdefault(channel, asyncio.Event()).set()
        worker = self._workers.get(channel)
        if worker is None or worker.done():
            self._workers[channel] = asyncio.create_task(
                self._reply_loop(view, place, config), name=f"replies-{channel}"
            )

    async def _reply_loop(self, view: SessionView, place: Place, config: GuildSettings) -> None:
        channel = place.channel_id
        pending = self._pending[channel]
        try:
            while pending.is_set():
                pending.clear()
                await self._reply_once(view, place, config)
        finally:
            if self._workers.get(channel) is asyncio.current_task():
                del self._workers[channel]

    async def _reply_once(self, view: SessionView, place: Place, config: GuildSettings) -> None:
        presenter = self._presenter_factory(view)
        try:
            # Checked when the character is about to speak, not only at session start.
            check_nsfw_allowed(config, view.character, place)
            await presenter.start()
            reply = await self._engine.generate_reply(
                view.session.id,
                params=self._engine.params_for(config),
                on_text=presenter.update,
                on_queued=presenter.queued,
            )
            shown_as = await presenter.finish(reply.message)
            if shown_as is not None:
                await self._engine.attach_discord_id(reply.message.id, shown_as)
        except GalateaError as exc:
            await presenter.fail(exc.user_message)
        except asyncio.CancelledError:
            raise
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception("Reply in channel %d failed (error %s)", place.channel_id, error_id)
            await presenter.fail(
                f"Sorry, something went wrong while {view.character.name} was answering "
                f"(error {error_id}). The conversation is kept; send another message to retry."
            )

    async def cancel(self, channel_id: int) -> None:
        """Stop any reply in progress in a channel (session stopped or reset)."""
        self._pending.pop(channel_id, None)
        worker = self._workers.pop(channel_id, None)
        if worker is not None and not worker.done():
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no reply is in progress (tests and shutdown; callers bound the wait)."""
        while workers := [w for w in self._workers.values() if not w.done()]:
            await asyncio.wait(workers)

    def busy(self, channel_id: int) -> bool:
        worker = self._workers.get(channel_id)
        return worker is not None and not worker.done()
