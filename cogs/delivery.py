"""Posting as a character: through a channel webhook (its name and avatar), or, without the
Manage Webhooks permission, as the bot with the name in bold."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import discord

from cogs.common import NO_MENTIONS
from cogs.delivery_recovery import RecoveringDelivery
from cogs.text import webhook_name

log = logging.getLogger(__name__)

WEBHOOK_NAME = "Galatea"
RETRY_WEBHOOKS_AFTER = 600.0  # seconds before trying again where webhooks were refused
POOL_SIZE = 5  # Galatea webhooks per channel at most: one per character of a scene
MAX_WEBHOOKS_PER_CHANNEL = 15  # Discord's limit, shared with other bots and integrations
WEBHOOK_LIMIT_REACHED = 30007  # Discord's error code when a channel has 15 webhooks
GUILD_WEBHOOK_LIMIT_REACHED = 30058  # ... when the server has 1,000
WEBHOOK_CAPS = (WEBHOOK_LIMIT_REACHED, GUILD_WEBHOOK_LIMIT_REACHED)
FORBIDDEN, FULL = "forbidden", "full"  # why webhooks were refused in a channel
PLAIN_WHEN_FULL = (
    "plain bot messages (this channel or server holds as many webhooks as Discord allows)"
)
NOBODY = -1  # no character: a webhook wanted for a member's line


class Delivery(Protocol):
    @property
    def mode(self) -> str: ...

    @property
    def prefix(self) -> str:
        """Put before every message's text (a plain message names the character)."""
        ...

    async def send(self, content: str, view: discord.ui.View | None = None) -> discord.Message: ...

    async def edit(self, message_id: int, content: str, view: discord.ui.View | None) -> int:
        """Change a message's text; returns the id of the message that now shows it."""
        ...

    async def delete(self, message_id: int) -> None: ...

    async def clear_buttons(self, message_id: int) -> None: ...


class WebhookDelivery:
    mode = "the channel webhook (the character's name and avatar)"
    prefix = ""

    def __init__(
        self,
        webhook: discord.Webhook,
        thread: discord.Thread | None,
        name: str,
        avatar_url: str | None = None,
    ) -> None:
        self._webhook, self._thread, self._name = webhook, thread, webhook_name(name)
        self._avatar_url = avatar_url  # a member's own avatar, for a line posted for them

    @property
    def webhook_id(self) -> int:
        return self._webhook.id

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

    async def edit(self, message_id: int, content: str, view: discord.ui.View | None) -> int:
        await self._webhook.edit_message(
            message_id,
            content=content,
            view=view,
            allowed_mentions=NO_MENTIONS,  # an edit without it is parsed with Discord's defaults
            **self._where(),
        )
        return message_id

    async def delete(self, message_id: int) -> None:
        await self._webhook.delete_message(message_id, **self._where())

    async def clear_buttons(self, message_id: int) -> None:
        await self._webhook.edit_message(
            message_id, view=None, allowed_mentions=NO_MENTIONS, **self._where()
        )


class PlainDelivery:
    mode = "plain bot messages (give the bot Manage Webhooks for names and avatars)"

    def __init__(self, channel: discord.abc.Messageable, name: str) -> None:
        self._channel, self.prefix = channel, f"**{discord.utils.escape_markdown(name)}**: "

    async def send(self, content: str, view: discord.ui.View | None = None) -> discord.Message:
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        return await self._channel.send(
            self.prefix + content, allowed_mentions=NO_MENTIONS, **extra
        )

    async def edit(self, message_id: int, content: str, view: discord.ui.View | None) -> int:
        message = self._channel.get_partial_message(message_id)  # type: ignore[attr-defined]
        await message.edit(content=self.prefix + content, view=view, allowed_mentions=NO_MENTIONS)
        return message_id

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

    Memory stays bounded: pools are kept for the ``CHANNELS_KEPT`` channels used last, and a
    stopped roleplay gives its channel's webhooks back (:meth:`release`). A Webhooks Update
    event makes the next reply in that channel read its webhooks again (:meth:`changed`).
    """

    CHANNELS_KEPT = 1_000

    def __init__(self, bot: discord.Client) -> None:
        self._bot = bot
        self._pools: dict[int, list[discord.Webhook]] = {}  # channel -> ours, least recent first
        self._avatar_of: dict[int, int | None] = {}  # webhook id -> character id shown
        # channel id -> (when webhooks were refused, why: FORBIDDEN or FULL)
        self._refused: dict[int, tuple[float, str]] = {}
        self._ours: set[int] = set()  # every webhook id we post through
        self._room: dict[int, int] = {}  # channel id -> webhooks Discord still allows there
        self._stale: set[int] = set()  # channels whose webhooks changed since we read them

    async def for_character(
        self, channel: Any, character_id: int, name: str, avatar: bytes | None
    ) -> Delivery:
        async def renew(lost: int | None) -> Delivery:
            self._drop(channel, lost)
            return await self._for_character(channel, character_id, name, avatar)

        current = await self._for_character(channel, character_id, name, avatar)
        return RecoveringDelivery(current, channel, renew)

    async def _for_character(
        self, channel: Any, character_id: int, name: str, avatar: bytes | None
    ) -> Delivery:
        parent = _parent(channel)
        thread = channel if isinstance(channel, discord.Thread) else None
        if self._may_try(parent.id):
            try:
                webhook = await self._webhook(parent, character_id)
                await self._show_avatar(webhook, character_id, avatar)
                return WebhookDelivery(webhook, thread, name)
            except discord.Forbidden:
                log.warning("No Manage Webhooks in channel %d: posting as the bot", parent.id)
                self._refuse(parent.id)
            except discord.HTTPException as exc:
                if exc.code not in WEBHOOK_CAPS:
                    raise
                # Discord's cap for the channel (15) or the server (1,000) is reached.
                log.warning(
                    "Channel %d: no room for a webhook (%d): as the bot", parent.id, exc.code
                )
                self._refuse(parent.id, FULL)
        return PlainDelivery(channel, name)

    async def for_member(self, channel: Any, name: str, avatar_url: str) -> Delivery:
        """Post a line for a member (``/impersonate``): their name and avatar on one of our
        webhooks, given per message, so no character's webhook avatar changes."""

        async def renew(lost: int | None) -> Delivery:
            self._drop(channel, lost)
            return await self._for_member(channel, name, avatar_url)

        return RecoveringDelivery(await self._for_member(channel, name, avatar_url), channel, renew)

    async def _for_member(self, channel: Any, name: str, avatar_url: str) -> Delivery:
        parent = _parent(channel)
        thread = channel if isinstance(channel, discord.Thread) else None
        if self._may_try(parent.id):
            try:
                pool = self._pools.get(parent.id)
                webhook = pool[-1] if pool and parent.id not in self._stale else None
                webhook = webhook or await self._webhook(parent, NOBODY)
                return WebhookDelivery(webhook, thread, name, avatar_url)
            except discord.Forbidden:
                self._refuse(parent.id)
            except discord.HTTPException as exc:
                if exc.code not in WEBHOOK_CAPS:
                    raise
                self._refuse(parent.id, FULL)
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

    def changed(self, channel_id: int) -> None:
        """Discord says the channel's webhooks changed (WEBHOOKS_UPDATE): read them again
        before the next reply there, so a deleted one is never used."""
        if channel_id in self._pools:
            self._stale.add(channel_id)

    def forget(self, channel_id: int) -> None:
        """Drop everything known about the channel's webhooks (found again next time)."""
        for webhook in self._pools.pop(channel_id, []):
            self._avatar_of.pop(webhook.id, None)
            self._ours.discard(webhook.id)
        self._room.pop(channel_id, None)
        self._stale.discard(channel_id)
        self._refused.pop(channel_id, None)

    async def release(self, channel: Any) -> int:
        """The channel's roleplay stopped: delete our webhooks there and forget the channel.
        Bounded: one read when they are not known (made before a restart), then at most
        ``MAX_WEBHOOKS_PER_CHANNEL`` deletions. Returns how many were deleted."""
        parent = _parent(channel)
        known = parent.id in self._pools and parent.id not in self._stale
        pool = list(self._pools.get(parent.id, []))
        self.forget(parent.id)
        try:
            if not known:
                me = self._bot.user
                hooks = await parent.webhooks()
                pool = [w for w in hooks if w.user is not None and me and w.user.id == me.id]
            deleted = 0
            for webhook in pool[:MAX_WEBHOOKS_PER_CHANNEL]:
                try:
                    await webhook.delete(reason="Galatea's roleplay in this channel stopped")
                    deleted += 1
                except discord.NotFound:
                    pass  # already gone
        except discord.HTTPException as exc:
            # No Manage Webhooks any more, or Discord is down: they stay, and are reused.
            log.info("Could not give back webhooks in channel %d (%s)", parent.id, exc.status)
            return 0
        if deleted:
            log.info("Deleted %d webhooks in channel %d: its roleplay stopped", deleted, parent.id)
        return deleted

    def per_channel_entries(self) -> int:
        """Channel-keyed entries held now (bounded by ``CHANNELS_KEPT`` and the refusals)."""
        return len(self._pools) + len(self._room) + len(self._refused) + len(self._stale)

    def mode(self, channel: Any) -> str:
        parent = _parent(channel)
        refused = self._refused.get(parent.id) if parent is not None else None
        if refused is None:
            return WebhookDelivery.mode
        return PLAIN_WHEN_FULL if refused[1] == FULL else PlainDelivery.mode

    def _refuse(self, channel_id: int, why: str = FORBIDDEN) -> None:
        """Post as the bot in this channel for a while; bounded like the pools."""
        self._refused.pop(channel_id, None)
        self._refused[channel_id] = (time.monotonic(), why)
        while len(self._refused) > self.CHANNELS_KEPT:
            del self._refused[next(iter(self._refused))]  # the oldest refusal

    def _may_try(self, channel_id: int) -> bool:
        refused = self._refused.get(channel_id)
        if refused is None:
            return True
        if time.monotonic() - refused[0] > RETRY_WEBHOOKS_AFTER:
            del self._refused[channel_id]
            return True
        return False

    def _drop(self, channel: Any, webhook_id: int | None) -> None:
        """A webhook answered Unknown Webhook: never use it again; read the channel's again."""
        parent = _parent(channel)
        pool = self._pools.get(parent.id)
        if pool is not None:
            pool[:] = [w for w in pool if w.id != webhook_id]
            self._stale.add(parent.id)
        if webhook_id is not None:
            self._avatar_of.pop(webhook_id, None)
            self._ours.discard(webhook_id)

    async def _pool(self, parent: discord.TextChannel) -> list[discord.Webhook]:
        """Our webhooks in the channel, read from Discord when unknown or changed."""
        pool = self._pools.get(parent.id)
        if pool is not None and parent.id not in self._stale:
            self._pools[parent.id] = self._pools.pop(parent.id)  # most recently used last
            return pool
        me = self._bot.user
        hooks = await parent.webhooks()
        self._stale.discard(parent.id)
        fresh = [w for w in hooks if w.user is not None and me and w.user.id == me.id]
        order = {w.id: i for i, w in enumerate(pool or [])}  # keep the known use order
        fresh.sort(key=lambda w: order.get(w.id, -1))
        for gone in {w.id for w in pool or []} - {w.id for w in fresh}:
            self._avatar_of.pop(gone, None)
            self._ours.discard(gone)
        self._pools.pop(parent.id, None)
        self._pools[parent.id] = fresh
        self._ours.update(w.id for w in fresh)
        self._room[parent.id] = MAX_WEBHOOKS_PER_CHANNEL - len(hooks)
        while len(self._pools) > self.CHANNELS_KEPT:
            self.forget(next(iter(self._pools)))  # the channel used least recently
        return fresh

    async def _webhook(self, parent: discord.TextChannel, character_id: int) -> discord.Webhook:
        pool = await self._pool(parent)
        chosen = next((w for w in pool if self._avatar_of.get(w.id) == character_id), None)
        if chosen is None:
            # One of ours showing nobody we know of (just read from Discord): reuse it before
            # making another, so webhooks never pile up towards Discord's caps.
            chosen = next((w for w in pool if w.id not in self._avatar_of), None)
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
            self._room[parent.id] = 0  # the channel (or server) is full: share ours
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


def _parent(channel: Any) -> Any:
    return channel.parent if isinstance(channel, discord.Thread) else channel
