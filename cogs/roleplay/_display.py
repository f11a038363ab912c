"""Showing a finished reply: split past 2,000 characters, the swipe buttons on its last
message, and which messages show each channel's latest reply (for the buttons)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.common.memo import LruCache
from bot.roleplay.sessions import SessionView
from bot.values import Character, StoredMessage
from cogs.delivery import Deliveries, Delivery
from cogs.reply_buttons import reply_view
from cogs.text import split_message

if TYPE_CHECKING:
    from bot.app import Core

LATEST_REPLIES_KEPT = 10_000  # channels whose newest reply's buttons are remembered


class ReplyDisplay:
    """Posts final replies through the channel's delivery and remembers, per channel, the
    message carrying the buttons and the messages showing the latest reply."""

    def __init__(self, core: Core, deliveries: Deliveries) -> None:
        self.core = core
        self.deliveries = deliveries
        # channel -> the message with the buttons; bounded, and dropped when a roleplay stops
        self.latest_reply: LruCache[int, tuple[int, Delivery]] = LruCache(LATEST_REPLIES_KEPT)
        # channel -> (stored line, the Discord messages showing it): known before it is stored
        self.latest_pieces: LruCache[int, tuple[int, list[int]]] = LruCache(LATEST_REPLIES_KEPT)

    async def delivery(self, channel: Any, character: Character) -> Delivery:
        avatar = await self.core.characters.avatar(character.id) if character.has_avatar else None
        return await self.deliveries.for_character(channel, character.id, character.name, avatar)

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
        known = self.latest_pieces.get(channel_id)
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
            await self.delete_piece(delivery, stale)
        # Before the write: the buttons are live already.
        self.latest_reply[channel_id] = (ids[-1], delivery)
        self.latest_pieces[channel_id] = (message.id, ids)
        if ids[1:] != old_tail:
            await self.core.engine.history.attach_discord_id(message.id, ids[0], ids[1:])
        return ids

    @staticmethod
    async def delete_piece(delivery: Delivery, message_id: int) -> None:
        try:
            await delivery.delete(message_id)
        except discord.NotFound:
            pass  # someone deleted it already

    async def _drop_old_buttons(self, channel_id: int) -> None:
        previous = self.latest_reply.pop(channel_id, None)
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

    def latest_id(self, channel_id: int, latest: StoredMessage) -> int | None:
        """The message carrying the latest reply's buttons: its last piece."""
        known = self.latest_reply.get(channel_id)
        if known:
            return known[0]
        return latest.discord_ids[-1] if latest.discord_ids else None

    def forget(self, channel_id: int) -> None:
        """The channel's roleplay stopped: nothing of its replies is kept."""
        self.latest_reply.pop(channel_id, None)
        self.latest_pieces.pop(channel_id, None)

    def per_channel_entries(self) -> int:
        return len(self.latest_reply) + len(self.latest_pieces)
