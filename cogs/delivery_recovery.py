"""A character's delivery that outlives its webhook (see :class:`RecoveringDelivery`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from cogs.text import split_message

if TYPE_CHECKING:
    from cogs.delivery import Delivery

log = logging.getLogger(__name__)

UNKNOWN_WEBHOOK = 10015  # Discord's error code for a deleted webhook


class RecoveringDelivery:
    """A delivery that outlives its webhook.

    A moderator may delete Galatea's webhook at any moment, mid-reply included: every call
    through it then answers 404 10015 Unknown Webhook. Here that error makes the channel's
    webhooks be looked up again and the call repeated on a fresh delivery (a new webhook, or
    plain bot messages where none can be made). A message the old webhook posted can no longer
    be edited: its text goes out as a new message and the old one is removed where the bot may.
    """

    def __init__(
        self,
        current: Delivery,
        channel: Any,
        renew: Callable[[int | None], Awaitable[Delivery]],
    ) -> None:
        self._current, self._channel, self._renew = current, channel, renew

    @property
    def mode(self) -> str:
        return self._current.mode

    @property
    def prefix(self) -> str:
        return self._current.prefix

    async def _recover(self) -> None:
        lost = getattr(self._current, "webhook_id", None)
        log.warning("A webhook in channel %d was deleted: making a new one", self._channel.id)
        self._current = await self._renew(lost)

    async def send(self, content: str, view: discord.ui.View | None = None) -> discord.Message:
        try:
            return await self._current.send(content, view)
        except discord.NotFound as exc:
            if exc.code != UNKNOWN_WEBHOOK:
                raise
        await self._recover()
        # Plain messages carry a name prefix: the text may need one message more now.
        pieces = split_message(content, prefix=self._current.prefix) or [content]
        sent: discord.Message | None = None
        for index, piece in enumerate(pieces):
            sent = await self._current.send(piece, view if index == len(pieces) - 1 else None)
        assert sent is not None
        return sent

    async def edit(self, message_id: int, content: str, view: discord.ui.View | None) -> int:
        try:
            return await self._current.edit(message_id, content, view)
        except discord.NotFound as exc:
            if exc.code != UNKNOWN_WEBHOOK:
                raise
        await self._recover()
        await self._remove_orphan(message_id)
        return (await self.send(content, view)).id

    async def delete(self, message_id: int) -> None:
        try:
            await self._current.delete(message_id)
        except discord.NotFound as exc:
            if exc.code != UNKNOWN_WEBHOOK:
                raise
            await self._remove_orphan(message_id)

    async def clear_buttons(self, message_id: int) -> None:
        await self._current.clear_buttons(message_id)  # an orphan's buttons just refuse

    async def _remove_orphan(self, message_id: int) -> None:
        """The deleted webhook's message: the bot removes it if it may (Manage Messages)."""
        try:
            await self._channel.get_partial_message(message_id).delete()
        except discord.HTTPException:
            log.info("Could not remove a deleted webhook's message in channel %d", self._channel.id)
