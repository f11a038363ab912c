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
POOL_SIZE = 5  # Galatea webhooks per channel at most: one per character of a scene
MAX_WEBHOOKS_PER_CHANNEL = 15  # Discord's limit, shared with other bots and integrations
WEBHOOK_LIMIT_REACHED = 30007  # Discord's error code when a channel has 15 webhooks
NOBODY = -1  # no character: a webhook wanted for a member's line


class Delivery(Protocol):
    mode: str

    async def send(self, content: str, view: discord.ui.View | None = None) -> discord.Message: ...

    async def edit(self, message_id: int, content: str, view: discord.ui.View | None) -> None: ...

    async def delete(self, message_id: int) -> None: ...

    async def clear_buttons(self, message_id: int) -> None: ...


class WebhookDelivery:
    mode = "the channel webhook (the character's name and avatar)"

    def __init__(
        self,
        webhook: discord.Webhook,
        thread: discord.Thread | None,
        name: str,
        avatar_url: str | None = None,
    ) -> None:
        self._webhook, self._thread, self._name = webhook, thread, webhook_name(name)
        self._avatar_url = avatar_url  # a member's own avatar, for a line posted for them

    def _where(self) -> dict[str, Any]:
        return {"thread": self._thread} if self._thread is not None else {}

    async def send(self, content: str, view: discord.ui.View | None = None) -> discord.Message:
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        if self._avatar_url is not None:
            extra["avatar_url"] = self._avatar_url
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
    """Galatea's webhooks: a small pool per channel, one per character speaking there.

    A webhook's avatar is set once for the character it shows (set as the webhook's avatar an
    image gets a permanent Discord address; attachment links expire). With several characters
    in a scene, each keeps a webhook of its own, so alternating speakers costs no webhook
    edits; past ``POOL_SIZE`` (or when the channel holds Discord's 15 webhooks) the least
    recently used of ours is re-pointed at the new speaker, one edit.
    """

    def __init__(self, bot: discord.Client) -> None:
        self._bot = bot
        self._pools: dict[int, list[discord.Webhook]] = {}  # channel -> ours, least recent first
        self._avatar_of: dict[int, int | None] = {}  # webhook id -> character id shown
        self._refused: dict[int, float] = {}  # channel id -> when webhooks were refused
        self._ours: set[int] = set()  # every webhook id we post through
        self._room: dict[int, int] = {}  # channel id -> webhooks Discord still allows there

    async def for_character(
        self, channel: Any, character_id: int, name: str, avatar: bytes | None
    ) -> Delivery:
        parent = channel.parent if isinstance(channel, discord.Thread) else channel
        thread = channel if isinstance(channel, discord.Thread) else None
        refused_at = self._refused.get(parent.id)
        if refused_at is None or time.monotonic() - refused_at > RETRY_WEBHOOKS_AFTER:
            try:
                webhook = await self._webhook(parent, character_id)
                await self._show_avatar(webhook, character_id, avatar)
                return WebhookDelivery(webhook, thread, name)
            except discord.Forbidden:
                log.warning("No Manage Webhooks in channel %d: posting as the bot", parent.id)
                self._refused[parent.id] = time.monotonic()
            except discord.HTTPException as exc:
                if exc.code != WEBHOOK_LIMIT_REACHED:
                    raise
                log.warning("Channel %d has 15 webhooks, none ours: posting as the bot", parent.id)
        return PlainDelivery(channel, name)

    async def for_member(self, channel: Any, name: str, avatar_url: str) -> Delivery:
        """Post a line for a member (``/impersonate``): their name and avatar on one of our
        webhooks, given per message, so no character's webhook avatar changes."""
        parent = channel.parent if isinstance(channel, discord.Thread) else channel
        thread = channel if isinstance(channel, discord.Thread) else None
        if parent.id not in self._refused:
            try:
                pool = self._pools.get(parent.id) or [await self._webhook(parent, NOBODY)]
                return WebhookDelivery(pool[-1], thread, name, avatar_url)
            except discord.Forbidden:
                self._refused[parent.id] = time.monotonic()
            except discord.HTTPException as exc:
                if exc.code != WEBHOOK_LIMIT_REACHED:
                    raise
        return PlainDelivery(channel, name)

    def posted_by_us(self, message: discord.Message, me: discord.ClientUser | None) -> bool:
        """Whether a message is a character's: from one of our webhooks or from the bot."""
        if message.webhook_id is not None:
            return message.webhook_id in self._ours
        return me is not None and message.author.id == me.id

    def remember(self, webhook_id: int, character_id: int) -> None:
        """After a restart: the webhook that posted a character's reply shows that character
        (only it can edit that reply), unless it is known to show another one since."""
        self._avatar_of.setdefault(webhook_id, character_id)

    def forget(self, channel_id: int) -> None:
        """A webhook was deleted: find or create them again next time."""
        for webhook in self._pools.pop(channel_id, []):
            self._avatar_of.pop(webhook.id, None)
            self._ours.discard(webhook.id)

    def mode(self, channel: Any) -> str:
        parent = channel.parent if isinstance(channel, discord.Thread) else channel
        if parent is not None and parent.id in self._refused:
            return PlainDelivery.mode
        return WebhookDelivery.mode

    async def _webhook(self, parent: discord.TextChannel, character_id: int) -> discord.Webhook:
        pool = self._pools.get(parent.id)
        if pool is None:
            me = self._bot.user
            hooks = await parent.webhooks()
            pool = [w for w in hooks if w.user is not None and me and w.user.id == me.id]
            self._pools[parent.id] = pool
            self._ours.update(w.id for w in pool)
            self._room[parent.id] = MAX_WEBHOOKS_PER_CHANNEL - len(hooks)
        chosen = next((w for w in pool if self._avatar_of.get(w.id) == character_id), None)
        if chosen is None and (not pool or (len(pool) < POOL_SIZE and self._room[parent.id] > 0)):
            chosen = await self._create(parent)
        if chosen is None:
            # Re-point the least recently used webhook that shows nobody, else the oldest.
            chosen = next((w for w in pool if w.id not in self._avatar_of), None) or pool[0]
        if chosen in pool:
            pool.remove(chosen)
        pool.append(chosen)  # most recently used last
        return chosen

    async def _create(self, parent: discord.TextChannel) -> discord.Webhook | None:
        try:
            webhook = await parent.create_webhook(
                name=WEBHOOK_NAME, reason="Galatea posts characters' replies through this webhook"
            )
        except discord.HTTPException as exc:
            if isinstance(exc, discord.Forbidden) or not self._pools.get(parent.id):
                raise
            self._room[parent.id] = 0  # the channel is full of other webhooks: share ours
            return None
        self._room[parent.id] -= 1
        self._ours.add(webhook.id)
        return webhook

    async def _show_avatar(
        self, webhook: discord.Webhook, character_id: int, avatar: bytes | None
    ) -> None:
        if self._avatar_of.get(webhook.id, -1) == character_id:
            return
        await webhook.edit(avatar=avatar, reason="Showing the character now speaking")
        self._avatar_of[webhook.id] = character_id
