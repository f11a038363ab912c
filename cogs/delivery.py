"""Posting as a character: through a channel webhook (its name and avatar), or, without the
Manage Webhooks permission, as the bot with the name in bold."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import discord

from cogs.common import NO_MENTIONS
from cogs.text import webhook_name

log = logging.getLogger(__name__)

WEBHOOK_NAME = "Galatea"
RETRY_WEBHOOKS_AFTER = 600.0  # seconds before trying again where webhooks were refused


class Delivery(Protocol):
    mode: str

    async def send(self, content: str, view: discord.ui.View | None = None) -> discord.Message: ...

    async def edit(self, message_id: int, content: str, view: discord.ui.View | None) -> None: ...

    async def delete(self, message_id: int) -> None: ...

    async def clear_buttons(self, message_id: int) -> None: ...


class WebhookDelivery:
    mode = "the channel webhook (the character's name and avatar)"

    def __init__(self, webhook: discord.Webhook, thread: discord.Thread | None, name: str) -> None:
        self._webhook, self._thread, self._name = webhook, thread, webhook_name(name)

    def _where(self) -> dict[str, Any]:
        return {"thread": self._thread} if self._thread is not None else {}

    async def send(self, content: str, view: discord.ui.View | None = None) -> discord.Message:
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        return await self._webhook.send(
            content,
            username=self._name,
            allowed_mentions=NO_MENTIONS,  # passed on every send: webhooks have no default
            wait=True,
            **self._where(),
            **extra,
        )

    async def edit(self, message_id: int, content: str, view: discord.ui.View | None) -> None:
        await self._webhook.edit_message(
            message_id,
            content=content,
            view=view,
            allowed_mentions=NO_MENTIONS,  # an edit without it is parsed with Discord's defaults
            **self._where(),
        )

    async def delete(self, message_id: int) -> None:
        await self._webhook.delete_message(message_id, **self._where())

    async def clear_buttons(self, message_id: int) -> None:
        await self._webhook.edit_message(
            message_id, view=None, allowed_mentions=NO_MENTIONS, **self._where()
        )


class PlainDelivery:
    mode = "plain bot messages (give the bot Manage Webhooks for names and avatars)"

    def __init__(self, channel: discord.abc.Messageable, name: str) -> None:
        self._channel, self._prefix = channel, f"**{discord.utils.escape_markdown(name)}**: "

    async def send(self, content: str, view: discord.ui.View | None = None) -> discord.Message:
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        return await self._channel.send(
            self._prefix + content, allowed_mentions=NO_MENTIONS, **extra
        )

    async def edit(self, message_id: int, content: str, view: discord.ui.View | None) -> None:
        message = self._channel.get_partial_message(message_id)  # type: ignore[attr-defined]
        await message.edit(content=self._prefix + content, view=view, allowed_mentions=NO_MENTIONS)

    async def delete(self, message_id: int) -> None:
        await self._channel.get_partial_message(message_id).delete()  # type: ignore[attr-defined]

    async def clear_buttons(self, message_id: int) -> None:
        message = self._channel.get_partial_message(message_id)  # type: ignore[attr-defined]
        await message.edit(view=None, allowed_mentions=NO_MENTIONS)


class Deliveries:
    """Finds or creates one Galatea webhook per channel and keeps its avatar on the character."""

    def __init__(self, bot: discord.Client) -> None:
        self._bot = bot
        self._webhooks: dict[int, discord.Webhook] = {}
        self._avatar_of: dict[int, int | None] = {}  # webhook id -> character id shown
        self._refused: dict[int, float] = {}  # channel id -> when webhooks were refused

    async def for_character(
        self, channel: Any, character_id: int, name: str, avatar: bytes | None
    ) -> Delivery:
        parent = channel.parent if isinstance(channel, discord.Thread) else channel
        thread = channel if isinstance(channel, discord.Thread) else None
        refused_at = self._refused.get(parent.id)
        if refused_at is None or time.monotonic() - refused_at > RETRY_WEBHOOKS_AFTER:
            try:
                webhook = await self._webhook(parent)
                await self._show_avatar(webhook, character_id, avatar)
                return WebhookDelivery(webhook, thread, name)
            except discord.Forbidden:
                log.warning("No Manage Webhooks in channel %d: posting as the bot", parent.id)
                self._refused[parent.id] = time.monotonic()
        return PlainDelivery(channel, name)

    def posted_by_us(self, message: discord.Message, me: discord.ClientUser | None) -> bool:
        """Whether a message is a character's: from one of our webhooks or from the bot."""
        if message.webhook_id is not None:
            return any(w.id == message.webhook_id for w in self._webhooks.values())
        return me is not None and message.author.id == me.id

    def forget(self, channel_id: int) -> None:
        """The webhook was deleted: find or create it again next time."""
        webhook = self._webhooks.pop(channel_id, None)
        if webhook is not None:
            self._avatar_of.pop(webhook.id, None)

    def mode(self, channel: Any) -> str:
        parent = channel.parent if isinstance(channel, discord.Thread) else channel
        if parent is not None and parent.id in self._refused:
            return PlainDelivery.mode
        return WebhookDelivery.mode

    async def _webhook(self, parent: discord.TextChannel) -> discord.Webhook:
        cached = self._webhooks.get(parent.id)
        if cached is not None:
            return cached
        me = self._bot.user
        existing = [
            w for w in await parent.webhooks() if w.user is not None and me and w.user.id == me.id
        ]
        webhook = (
            existing[0]
            if existing
            else await parent.create_webhook(
                name=WEBHOOK_NAME, reason="Galatea posts characters' replies through this webhook"
            )
        )
        self._webhooks[parent.id] = webhook
        return webhook

    async def _show_avatar(
        self, webhook: discord.Webhook, character_id: int, avatar: bytes | None
    ) -> None:
        # The image itself lives in the store; set as the webhook's avatar it gets a permanent
        # Discord address, unlike attachment links, which expire.
        if self._avatar_of.get(webhook.id, -1) == character_id:
            return
        await webhook.edit(avatar=avatar, reason="Showing the character now speaking")
        self._avatar_of[webhook.id] = character_id
