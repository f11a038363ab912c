"""Channel roleplay on Discord: messages in, character replies out (streamed, through the
webhook), swipe buttons, and edits and deletions that follow into the history."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

import discord
from discord.ext import commands

from bot.errors import GalateaError
from bot.memo import BoundedDict
from bot.policy import ChannelReplyLimit, UserReplyLimit
from bot.roleplay.channel import NOT_STORED_NOTE, ChannelRoleplay, IncomingMessage, Outcome
from bot.roleplay.engine import SessionView
from bot.values import Character, Role, StoredMessage
from cogs.common import NO_MENTIONS, core_of, place_of, reply_ephemeral
from cogs.deadline import token_time_left
from cogs.delivery import Deliveries, Delivery
from cogs.reply_buttons import ReplyButton, reply_view
from cogs.text import split_message

log = logging.getLogger(__name__)

EDIT_INTERVAL = 1.0  # seconds between streamed edits in one channel (Discord's rate limits)
INTERRUPTED_NOTE_TIMEOUT = 3.0  # seconds shutdown spends telling channels; within its grace
TYPING_INTERVAL = 8.0
STREAMING_MARK = " …"  # ends a reply's text while it is still being written
LATEST_REPLIES_KEPT = 10_000  # channels whose newest reply's buttons are remembered
HUMAN_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


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


def _at(ids: list[int], index: int) -> int | None:
    return ids[index] if index < len(ids) else None


def streamed_text(text: str, prefix: str) -> str:
    """What a reply still being written shows: its first message's worth, marked " …" (the
    mark and the delivery's prefix counted within Discord's 2,000)."""
    pieces = split_message(text, prefix=prefix, suffix=STREAMING_MARK)
    return pieces[0] + STREAMING_MARK if pieces else ""


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class RoleplayCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        core = bot.core  # type: ignore[attr-defined]
        self.core = core
        self.stream_replies: bool = core.settings.STREAM_REPLIES
        self.deliveries = Deliveries(bot)
        self.channel_limit = ChannelReplyLimit(core.settings.REPLIES_PER_CHANNEL_PER_MINUTE)
        self.user_limit = UserReplyLimit(core.settings.REPLIES_PER_USER_PER_MINUTE)
        self.live: dict[int, DiscordReplyPresenter] = {}  # channel -> the reply being written
        self.replies = ChannelRoleplay(
            core.engine,
            core.guild_config,
            lambda view: DiscordReplyPresenter(self, view),
            personas=core.personas,
            channel_limit=self.channel_limit,
            user_limit=self.user_limit,
            leases=core.leases,
        )
        # channel -> the message with the buttons; bounded, and dropped when a roleplay stops
        self._latest_reply: BoundedDict[int, tuple[int, Delivery]] = BoundedDict(
            LATEST_REPLIES_KEPT
        )
        # channel -> (stored line, the Discord messages showing it): known before it is stored
        self._latest_pieces: BoundedDict[int, tuple[int, list[int]]] = BoundedDict(
            LATEST_REPLIES_KEPT
        )
        bot.roleplay_cog = self  # type: ignore[attr-defined]

    async def cog_load(self) -> None:
        # A long reply keeps its channel's lease (see bot/roleplay/lease.py).
        self._lease_keeper = self.bot.track(  # type: ignore[attr-defined]
            self.core.leases.keep_alive(self.replies.busy), name="lease-keeper"
        )

    async def cog_unload(self) -> None:
        self._lease_keeper.cancel()
        for channel_id in list(self._latest_reply):
            await self.replies.cancel(channel_id)

    # Where and how a character posts

    async def channel(self, channel_id: int) -> Any:
        return self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)

    async def delivery(self, channel: Any, character: Character) -> Delivery:
        avatar = await self.core.characters.avatar(character.id) if character.has_avatar else None
        return await self.deliveries.for_character(channel, character.id, character.name, avatar)

    async def delivery_mode(self, channel: Any) -> str:
        return self.deliveries.mode(channel)

    async def post_character_message(
        self, channel: Any, character: Character, message: StoredMessage
    ) -> None:
        """Post a stored character line (a greeting) and link it to its Discord message."""
        delivery = await self.delivery(channel, character)
        view = await self.core.engine.active(channel.id)
        if view is None:
            return
        ids = await self.show_reply(delivery, view, message, None)
        if ids:
            await self.core.engine.attach_discord_id(message.id, ids[0])

    async def show_reply(
        self,
        delivery: Delivery,
        view: SessionView,
        message: StoredMessage,
        streamed_id: int | None,
    ) -> list[int]:
        """Show the final text (split past 2,000 characters) with the swipe buttons on it.

        The reply is one unit: a version shown again (regenerated, browsed) reuses the
        messages of the one before and deletes those it no longer needs, and every message's
        id is stored, so the buttons act on the whole reply after a restart too."""
        channel_id = view.session.channel_id
        await self._drop_old_buttons(channel_id)
        pieces = split_message(message.content, prefix=delivery.prefix)
        buttons = reply_view(view.session.id, message)
        known = self._latest_pieces.get(channel_id)
        old_tail = list(message.discord_tail_ids) or (
            known[1][1:] if known is not None and known[0] == message.id else []
        )
        ids: list[int] = []
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            piece_view = buttons if last else None
            reused = (
                streamed_id
                if index == 0
                else (old_tail[index - 1] if index <= len(old_tail) else None)
            )
            if reused is not None:
                ids.append(await delivery.edit(reused, piece, piece_view))
            else:
                ids.append((await self._send(delivery, view, piece, piece_view)).id)
        for stale in old_tail[len(pieces) - 1 :]:
            await self._delete_piece(delivery, stale)
        # Before the write: the buttons are live already.
        self._latest_reply[channel_id] = (ids[-1], delivery)
        self._latest_pieces[channel_id] = (message.id, ids)
        if ids[1:] != old_tail:
            await self.core.engine.attach_discord_id(message.id, ids[0], ids[1:])
        return ids

    @staticmethod
    async def _delete_piece(delivery: Delivery, message_id: int) -> None:
        try:
            await delivery.delete(message_id)
        except discord.NotFound:
            pass  # someone deleted it already

    async def _drop_old_buttons(self, channel_id: int) -> None:
        previous = self._latest_reply.pop(channel_id, None)
        if previous is not None:
            message_id, delivery = previous
            try:
                await delivery.clear_buttons(message_id)
            except discord.HTTPException:
                pass  # deleted meanwhile: nothing to clear

    async def _send(
        self, delivery: Delivery, view: SessionView, text: str, buttons: discord.ui.View | None
    ) -> discord.Message:
        """Send (a deleted webhook is replaced inside the delivery, see RecoveringDelivery).

        discord.py itself waits out 429s and retries 5xx on webhook routes."""
        return await delivery.send(text, buttons)

    # Messages in

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None:
            return
        try:
            # No await before handle(): it keeps the channel's messages in order.
            outcome = await self.replies.handle(self._incoming(message))
        except GalateaError as exc:
            await message.channel.send(f"⚠️ {exc.user_message}", allowed_mentions=NO_MENTIONS)
            return
        if outcome is not Outcome.NO_SESSION:
            log.debug("Message %d in channel %d: %s", message.id, message.channel.id, outcome)
        if outcome in (Outcome.CHANNEL_AT_LIMIT, Outcome.USER_AT_LIMIT):
            await self._tell_held(message, outcome)
        elif outcome is Outcome.NOT_STORED:  # once a minute per channel (bot/ decides)
            try:
                await message.channel.send(f"⚠️ {NOT_STORED_NOTE}", allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as exc:
                log.warning(
                    "Could not post a storage note in channel %d (%s)", message.channel.id, exc
                )

    async def _tell_held(self, message: discord.Message, outcome: Outcome) -> None:
        """Say that a reply limit holds replies (bot/ returns this once a minute; no pings)."""
        view = await self.core.engine.active(message.channel.id)
        name = view.character.name if view is not None else "The character"
        try:
            if outcome is Outcome.USER_AT_LIMIT:  # an answer to them, so it names nobody
                await message.reply(
                    f"⏳ {self.user_limit.note(name)}",
                    allowed_mentions=NO_MENTIONS,
                    mention_author=False,
                )
            else:
                await message.channel.send(
                    f"⏳ {self.channel_limit.note(name)}", allowed_mentions=NO_MENTIONS
                )
        except discord.HTTPException as exc:
            log.warning(
                "Could not post a reply-limit note in channel %d (%s)", message.channel.id, exc
            )

    def _incoming(self, message: discord.Message) -> IncomingMessage:
        assert message.guild is not None
        me = self.bot.user
        reference = message.reference
        reply_to = reference.message_id if reference is not None else None
        resolved = reference.resolved if reference is not None else None
        return IncomingMessage(
            place=place_of(message.channel, message.guild.id),
            message_id=message.id,
            author_id=message.author.id,
            author_name=message.author.display_name,
            content=message.clean_content,
            from_bot=message.author.bot,
            from_webhook=message.webhook_id is not None,
            is_system=message.type not in HUMAN_MESSAGE_TYPES,
            mentions_bot=me is not None and any(u.id == me.id for u in message.mentions),
            # Discord sends the message replied to; the store knows it when it does not.
            replies_to_character=isinstance(resolved, discord.Message)
            and self.deliveries.posted_by_us(resolved, me),
            reply_to_message_id=reply_to,
        )

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
        if await self.core.engine.edit_by_discord_id(payload.message_id, text):
            log.info("Message %d edited: history updated", payload.message_id)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if await self.core.engine.delete_by_discord_id(payload.message_id):
            log.info("Message %d deleted: removed from the history", payload.message_id)

    # Swipe buttons

    async def on_reply_button(
        self, interaction: discord.Interaction[Any], action: str, session_id: int
    ) -> None:
        core = core_of(interaction)
        view = await core.engine.active(interaction.channel_id or 0)
        if view is None or view.session.id != session_id:
            await reply_ephemeral(
                interaction, "That roleplay has ended; these buttons do nothing now."
            )
            return
        latest = await core.engine.history(session_id, limit=1)
        clicked = interaction.message.id if interaction.message else None
        if (
            not latest
            or latest[-1].role is not Role.CHARACTER
            or clicked != self._latest_id(view.session.channel_id, latest[-1])
        ):
            await reply_ephemeral(interaction, "Only the character's latest reply can be changed.")
            return
        await interaction.response.defer()
        channel = await self.channel(view.session.channel_id)
        speaker = latest[-1].character_id or view.session.character_id
        character = next(
            (m.character for m in view.cast if m.character.id == speaker), view.character
        )
        view = replace(view, character=character)
        if interaction.message is not None and interaction.message.webhook_id is not None:
            self.deliveries.remember(interaction.message.webhook_id, character.id)
        delivery = await self.delivery(channel, character)
        first_id = latest[-1].discord_message_id or clicked
        config = await core.guild_config.get(view.session.guild_id)
        params = core.engine.params_for(config)
        last_edit = 0.0

        async def stream(text: str) -> None:
            nonlocal last_edit, first_id
            shown = streamed_text(text, delivery.prefix)
            if shown and self.stream_replies and time.monotonic() - last_edit >= EDIT_INTERVAL:
                last_edit = time.monotonic()
                first_id = await delivery.edit(first_id, shown, None)

        try:
            if action == "regen":
                reply = await core.engine.regenerate(session_id, params=params, on_text=stream)
                message = reply.message
            elif action == "cont":
                reply = await core.engine.continue_reply(session_id, params=params, on_text=stream)
                message = reply.message
            elif action in ("prev", "next"):
                message = await core.engine.browse_versions(
                    session_id, -1 if action == "prev" else 1
                )
            else:  # delete
                removed = await core.engine.delete_latest_reply(session_id)
                known = self._latest_pieces.pop(view.session.channel_id, (0, []))[1]
                pieces = dict.fromkeys([*removed.discord_ids, *known]) or {first_id: None}
                for piece_id in pieces:  # the whole reply
                    await self._delete_piece(delivery, piece_id)
                self._latest_reply.pop(view.session.channel_id, None)
                return
        except GalateaError as exc:
            if token_time_left(interaction) > 0:  # a long queue may outlast the token
                await reply_ephemeral(interaction, exc.user_message)
            else:
                log.info("A button's answer in channel %d outlasted its token", channel.id)
            return
        await self.show_reply(delivery, view, message, first_id)

    def _latest_id(self, channel_id: int, latest: StoredMessage) -> int | None:
        """The message carrying the latest reply's buttons: its last piece."""
        known = self._latest_reply.get(channel_id)
        if known:
            return known[0]
        return latest.discord_ids[-1] if latest.discord_ids else None

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
        self._latest_reply.pop(channel.id, None)
        self._latest_pieces.pop(channel.id, None)
        if isinstance(channel, discord.Thread):
            return  # the webhooks are the parent channel's, which other roleplays may use
        self.bot.track(  # type: ignore[attr-defined]
            self.deliveries.release(channel), name=f"release-webhooks-{channel.id}"
        )

    @commands.Cog.listener()
    async def on_webhooks_update(self, channel: discord.abc.GuildChannel) -> None:
        """A webhook in the channel was made, changed or deleted (perhaps ours, by a
        moderator): the next reply there reads the channel's webhooks again."""
        self.deliveries.changed(channel.id)

    def per_channel_entries(self) -> int:
        """Channel-keyed entries this cog and its helpers hold now (the soak test reads it)."""
        return (
            len(self._latest_reply)
            + len(self._latest_pieces)
            + len(self.live)
            + self.deliveries.per_channel_entries()
            + self.replies.per_channel_entries()
        )

    async def _stop_replies(self) -> None:
        """Cancel every reply in progress; one cut off mid-stream is taken away with a note."""
        channels = self.replies.channels_in_use() | set(self._latest_reply) | set(self.live)
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


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(ReplyButton)
    await bot.add_cog(RoleplayCog(bot))
