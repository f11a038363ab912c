"""Showing one reply as it grows: typing, then one message edited about once a second."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import GalateaError
from bot.roleplay.sessions import SessionView
from bot.values import StoredMessage
from cogs.common import NO_MENTIONS
from cogs.delivery import Delivery
from cogs.text import split_message

if TYPE_CHECKING:
    from cogs.roleplay._cog import RoleplayCog

log = logging.getLogger(__name__)

EDIT_INTERVAL = 1.0  # seconds between streamed edits in one channel (Discord's rate limits)
TYPING_INTERVAL = 8.0
STREAMING_MARK = " …"  # ends a reply's text while it is still being written


class DiscordReplyPresenter:
    """Shows one reply as it grows: typing, then one message edited about once a second."""

    def __init__(self, cog: RoleplayCog, view: SessionView) -> None:
        self._cog, self._view = cog, view
        self._delivery: Delivery | None = None
        self._message_id: int | None = None
        self._last_edit = 0.0
        self._last_typing = 0.0
        self._channel: Any = None
        self._queue_note: discord.Message | None = None
        self.done = False
        cog.live[view.session.channel_id] = self  # one reply at a time per channel

    async def _ready(self) -> Delivery:
        if self._delivery is None:
            self._channel = await self._cog.channel(self._view.session.channel_id)
            self._delivery = await self._cog.delivery(self._channel, self._view.character)
        return self._delivery

    async def start(self) -> None:
        await self._ready()
        await self._typing()

    async def _typing(self) -> None:
        if time.monotonic() - self._last_typing > TYPING_INTERVAL:
            self._last_typing = time.monotonic()
            try:
                await self._channel.typing()
            except discord.HTTPException:
                pass  # only a courtesy

    async def queued(self, position: int) -> None:
        await self._ready()
        self._queue_note = await self._channel.send(
            f"⏳ {self._view.character.name} is waiting for the model ({_ordinal(position)} in "
            "line)…",
            allowed_mentions=NO_MENTIONS,
        )

    async def _drop_queue_note(self) -> None:
        note, self._queue_note = self._queue_note, None
        if note is not None:
            try:
                await note.delete()
            except discord.HTTPException:
                pass  # already gone

    async def update(self, text: str) -> None:
        await self._drop_queue_note()
        if not self._cog.stream_replies:
            await self._typing()
            return
        if time.monotonic() - self._last_edit < EDIT_INTERVAL:
            return
        delivery = await self._ready()
        shown = streamed_text(text, delivery.prefix)
        if not shown:
            return
        self._last_edit = time.monotonic()
        try:
            if self._message_id is None:
                self._message_id = (await delivery.send(shown)).id
            else:
                # A new id when the webhook was deleted mid-reply and the text moved on.
                self._message_id = await delivery.edit(self._message_id, shown, None)
        except discord.DiscordServerError as exc:
            raise self._discord_down(exc) from exc

    def shown_id(self) -> int | None:
        return self._message_id

    async def finish(self, message: StoredMessage) -> int | None:
        # The reply is stored: from here a stop or a restart must never take it away as an
        # unfinished one (showing it may post several messages and record their ids).
        self._settled()
        await self._drop_queue_note()
        delivery = await self._ready()
        try:
            ids = await self._cog.show_reply(delivery, self._view, message, self._message_id)
        except discord.DiscordServerError as exc:
            raise self._discord_down(exc) from exc
        return ids[0] if ids else None

    def _discord_down(self, exc: discord.DiscordServerError) -> GalateaError:
        # discord.py has already retried the 5xx several times over about 25 seconds.
        log.warning(
            "Discord answered %d to a reply in channel %d, past its retries",
            exc.status,
            self._view.session.channel_id,
        )
        return GalateaError(
            f"Discord did not take {self._view.character.name}'s reply (it is having trouble "
            "right now). Your message is kept; send another message to try again."
        )

    async def withdraw(self) -> None:
        """The reply stops before it is stored: take the partial text away."""
        self._settled()
        await self._drop_queue_note()
        if self._message_id is not None and self._delivery is not None:
            try:
                await self._delivery.delete(self._message_id)
            except discord.HTTPException:
                pass

    async def fail(self, user_message: str) -> None:
        await self.withdraw()
        channel_id = self._view.session.channel_id
        try:
            channel = self._channel or await self._cog.channel(channel_id)
            await channel.send(f"⚠️ {user_message}", allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            # Discord is down for us too: the history is already right, so only log it.
            log.warning("Could not tell channel %d that no reply came (%s)", channel_id, exc)

    async def interrupted(self) -> None:
        """The bot stops mid-reply: nothing was stored, so take the partial text away."""
        await self.fail(
            f"{self._view.character.name} was interrupted: Galatea is restarting. Your messages "
            "are kept; write again once it is back."
        )

    def _settled(self) -> None:
        self.done = True
        if self._cog.live.get(self._view.session.channel_id) is self:
            del self._cog.live[self._view.session.channel_id]


def streamed_text(text: str, prefix: str) -> str:
    """What a reply still being written shows: its first message's worth, marked " …" (the
    mark and the delivery's prefix counted within Discord's 2,000)."""
    pieces = split_message(text, prefix=prefix, suffix=STREAMING_MARK)
    return pieces[0] + STREAMING_MARK if pieces else ""


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
