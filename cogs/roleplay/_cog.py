"""The roleplay cog: attaches Discord to the core's roleplay runtime (``Core.roleplay``) and
listens for messages, edits, deletions and webhook changes."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, cast

import discord
from discord.ext import commands

from bot.errors import GalateaError
from bot.roleplay.channel import Outcome
from bot.roleplay.sessions import SessionView
from bot.values import Character, StoredMessage
from cogs.common import NO_MENTIONS
from cogs.delivery import Deliveries, Delivery
from cogs.roleplay._buttons import answer_reply_button
from cogs.roleplay._display import ReplyDisplay
from cogs.roleplay._intake import answer_outcome, incoming
from cogs.roleplay._presenter import DiscordReplyPresenter

if TYPE_CHECKING:
    from cogs.client import GalateaBot

log = logging.getLogger(__name__)

INTERRUPTED_NOTE_TIMEOUT = 3.0  # seconds shutdown spends telling channels; within its grace


class RoleplayCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = cast("GalateaBot", bot)
        core = self.bot.core
        self.core = core
        self.stream_replies: bool = core.settings.STREAM_REPLIES
        self.deliveries = Deliveries(bot)
        self.display = ReplyDisplay(core, self.deliveries)
        self.live: dict[int, DiscordReplyPresenter] = {}  # channel -> the reply being written
        self.replies = core.roleplay
        self.replies.present_with(lambda view: DiscordReplyPresenter(self, view))

    async def cog_load(self) -> None:
        # A long reply keeps its channel's lease (see bot/roleplay/lease.py).
        self._lease_keeper = self.bot.track(
            self.core.leases.keep_alive(self.replies.busy), name="lease-keeper"
        )

    async def cog_unload(self) -> None:
        self._lease_keeper.cancel()
        for channel_id in list(self.display.latest_reply):
            await self.replies.cancel(channel_id)

    # Where and how a character posts

    async def channel(self, channel_id: int) -> Any:
        return self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)

    async def delivery(self, channel: Any, character: Character) -> Delivery:
        return await self.display.delivery(channel, character)

    async def delivery_mode(self, channel: Any) -> str:
        return self.deliveries.mode(channel)

    async def post_character_message(
        self, channel: Any, character: Character, message: StoredMessage
    ) -> None:
        """Post a stored character line (a greeting) and link it to its Discord message."""
        delivery = await self.delivery(channel, character)
        view = await self.core.engine.sessions.active(channel.id)
        if view is None:
            return
        ids = await self.show_reply(delivery, view, message, None)
        if ids:
            await self.core.engine.history.attach_discord_id(message.id, ids[0])

    async def show_reply(
        self,
        delivery: Delivery,
        view: SessionView,
        message: StoredMessage,
        streamed_id: int | None,
    ) -> list[int]:
        return await self.display.show_reply(delivery, view, message, streamed_id)

    # Messages in

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None:
            return
        try:
            # No await before handle(): it keeps the channel's messages in order.
            outcome = await self.replies.handle(incoming(message, self.bot.user, self.deliveries))
        except GalateaError as exc:
            await message.channel.send(f"⚠️ {exc.user_message}", allowed_mentions=NO_MENTIONS)
            return
        if outcome is not Outcome.NO_SESSION:
            log.debug("Message %d in channel %d: %s", message.id, message.channel.id, outcome)
        await answer_outcome(self.core, message, outcome)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        content = payload.data.get("content")
        author = payload.data.get("author") or {}
        if content is None or author.get("bot") or payload.data.get("webhook_id"):
            return
        message = payload.cached_message
        text = (
            message.clean_content if message is not None and message.content == content else content
        )
        if await self.core.engine.history.edit_by_discord_id(payload.message_id, text):
            log.info("Message %d edited: history updated", payload.message_id)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if await self.core.engine.history.delete_by_discord_id(payload.message_id):
            log.info("Message %d deleted: removed from the history", payload.message_id)

    # Swipe buttons

    async def on_reply_button(
        self, interaction: discord.Interaction[Any], action: str, session_id: int
    ) -> None:
        await answer_reply_button(self, interaction, action, session_id)

    async def stop_channel(self, channel_id: int) -> None:
        """Stop the channel's reply (its session stopped, reset or replaced); a reply cut off
        mid-stream is taken away (the one who stopped it knows why: no note)."""
        busy = self.replies.busy(channel_id)
        await self.replies.cancel(channel_id)
        presenter = self.live.get(channel_id)
        if busy and presenter is not None and not presenter.done:
            await presenter.withdraw()

    def session_ended(self, channel: Any) -> None:
        """The channel's roleplay stopped: forget its state and give its webhooks back (in the
        background, a few requests at most; the answer to the command does not wait)."""
        self.display.forget(channel.id)
        if isinstance(channel, discord.Thread):
            return  # the webhooks are the parent channel's, which other roleplays may use
        self.bot.track(self.deliveries.release(channel), name=f"release-webhooks-{channel.id}")

    @commands.Cog.listener()
    async def on_webhooks_update(self, channel: discord.abc.GuildChannel) -> None:
        """A webhook in the channel was made, changed or deleted (perhaps ours, by a
        moderator): the next reply there reads the channel's webhooks again."""
        self.deliveries.changed(channel.id)

    def per_channel_entries(self) -> int:
        """Channel-keyed entries this cog and its helpers hold now (the soak test reads it)."""
        return (
            self.display.per_channel_entries()
            + len(self.live)
            + self.deliveries.per_channel_entries()
            + self.replies.per_channel_entries()
        )

    async def _stop_replies(self) -> None:
        """Cancel every reply in progress; one cut off mid-stream is taken away with a note."""
        channels = self.replies.channels_in_use() | set(self.display.latest_reply) | set(self.live)
        busy = {c for c in channels if self.replies.busy(c)}
        await asyncio.gather(*(self.replies.cancel(c) for c in channels))
        # A presenter left by /session stop's cancel is no reply in progress: leave it be.
        cut_off = [p for c, p in self.live.items() if c in busy and not p.done]
        if cut_off:
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(p.interrupted() for p in cut_off)), INTERRUPTED_NOTE_TIMEOUT
                )
            except TimeoutError:
                log.warning("Could not tell %d channels their reply was interrupted", len(cut_off))

    async def shutdown(self) -> None:
        await self._stop_replies()
        self._lease_keeper.cancel()
        try:  # give the channels back: another process answers them at once
            await self.core.leases.release_all()
        except Exception:
            log.exception("Could not release channel leases; they run out by themselves")
