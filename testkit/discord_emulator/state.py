"""The emulated Discord world: snowflakes, users, guilds, channels, webhooks and messages.

Plain data only: no networking here. Builders live on :class:`World`; the emulator wraps them
so that changes made after the bot connected are also announced over the gateway.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from testkit.discord_emulator import permissions as perms

DISCORD_EPOCH_MS = 1420070400000

# Channel types (https://discord.com/developers/docs/resources/channel#channel-object-channel-types).
GUILD_TEXT = 0
ANNOUNCEMENT_THREAD = 10
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
THREAD_TYPES = frozenset({ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})


def iso_now() -> str:
    """The current time in Discord's ISO-8601 timestamp format."""
    return datetime.now(UTC).isoformat()


class SnowflakeFactory:
    """Time-based, strictly increasing snowflakes (so ``created_at`` and ``before=`` work)."""

    def __init__(self) -> None:
        self._last = 0
        self._increment = 0

    def next(self, shard: tuple[int, int] | None = None) -> int:
        """The next id; with ``shard=(id, count)``, one whose guild lands on that shard."""
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        self._increment = (self._increment + 1) & 0xFFF
        candidate = (millis << 22) | (1 << 17) | self._increment
        # Two ids in the same millisecond with a wrapped increment must still increase.
        candidate = max(self._last + 1, candidate)
        if shard is not None:
            shard_id, count = shard
            step = (shard_id - (candidate >> 22)) % count
            if step:  # a few milliseconds ahead: still increasing, on the wanted shard
                candidate = (((candidate >> 22) + step) << 22) | (1 << 17) | self._increment
        self._last = candidate
        return candidate


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    avatar: str | None = None
    discriminator: str = "0"

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False
    mentionable: bool = False
    bot_id: int | None = None

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass
class Member:
    user: User
    guild_id: int
    nick: str | None = None
    roles: list[int] = field(default_factory=list)
    joined_at: str = field(default_factory=iso_now)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def display_name(self) -> str:
        return self.nick or self.user.global_name or self.user.username


@dataclass
class Overwrite:
    """A channel permission overwrite; ``type`` 0 targets a role, 1 a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0


@dataclass
class Channel:
    id: int
    guild_id: int
    name: str
    type: int = GUILD_TEXT
    position: int = 0
    nsfw: bool = False
    topic: str | None = None
    parent_id: int | None = None
    owner_id: int | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    rate_limit_per_user: int = 0
    message_count: int = 0
    last_message_id: int | None = None
    created_at: str = field(default_factory=iso_now)

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    bot_role_id: int | None = None
    joined_at: str = field(default_factory=iso_now)
    # Reference > Uploading Files: 10 MiB by default, more with the server's Boost Tier.
    attachment_size_limit: int = 10 * 1024 * 1024

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    @property
    def text_channels(self) -> list[Channel]:
        return [c for c in self.channels.values() if not c.is_thread]

    @property
    def threads(self) -> list[Channel]:
        return [c for c in self.channels.values() if c.is_thread]


@dataclass
class Webhook:
    id: int
    token: str
    channel_id: int
    guild_id: int
    name: str
    creator_id: int
    avatar: str | None = None
    application_id: int | None = None
    type: int = 1  # 1 = incoming
    avatar_data: str | None = None  # the data URI last set with PATCH, for tests


@dataclass
class StoredFile:
    """An uploaded (or test-provided) attachment; ``data`` holds the exact bytes received."""

    id: int
    filename: str
    content_type: str
    data: bytes
    url: str
    description: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class StoredMessage:
    """A message as Discord stores it. ``data`` is the Discord-shaped message object.

    Indexing (``msg["content"]``) reads ``data``; the extra attributes keep what Discord
    itself would not echo back (``allowed_mentions``, uploaded bytes, webhook overrides).
    """

    data: dict[str, Any]
    guild_id: int | None
    files: list[StoredFile] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    ephemeral: bool = False
    deleted: bool = False
    avatar_url: str | None = None
    interaction_id: int | None = None
    revisions: list[dict[str, Any]] = field(default_factory=list)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def channel_id(self) -> int:
        return int(self.data["channel_id"])

    @property
    def content(self) -> str:
        return self.data["content"]

    @property
    def author_id(self) -> int:
        return int(self.data["author"]["id"])

    @property
    def author_name(self) -> str:
        return self.data["author"]["username"]

    @property
    def webhook_id(self) -> int | None:
        value = self.data.get("webhook_id")
        return int(value) if value is not None else None

    @property
    def mention_everyone(self) -> bool:
        return bool(self.data.get("mention_everyone"))

    @property
    def mentioned_user_ids(self) -> list[int]:
        return [int(u["id"]) for u in self.data.get("mentions", [])]

    @property
    def flags(self) -> int:
        return int(self.data.get("flags", 0))


class World:
    """Registry of everything that exists in the emulated Discord."""

    def __init__(self, *, token: str, bot_name: str) -> None:
        self.snowflakes = SnowflakeFactory()
        self.token = token
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.messages: dict[int, StoredMessage] = {}
        self.files: dict[int, StoredFile] = {}
        # Synced application commands keyed by guild id (None = global).
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.bot = self.add_user(bot_name, bot=True)
        self.application_id = self.bot.id  # Discord bots share the id with their application.
        self.owner = self.add_user("app-owner")

    def next_id(self) -> int:
        return self.snowflakes.next()

    # -- builders -----------------------------------------------------------------------------

    def add_user(self, username: str, *, global_name: str | None = None, bot: bool = False) -> User:
        user = User(id=self.next_id(), username=username, global_name=global_name, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        owner: User | None,
        bot_permissions: int,
        everyone_permissions: int,
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        guild_id = self.snowflakes.next(shard)
        owner = owner or self.add_user(f"{name}-owner")
        guild = Guild(id=guild_id, name=name, owner_id=owner.id)
        guild.roles[guild_id] = Role(guild_id, guild_id, "@everyone", everyone_permissions)
        # Discord gives every bot a managed role carrying the permissions it was invited with.
        bot_role = Role(
            self.next_id(),
            guild_id,
            self.bot.username,
            bot_permissions,
            1,
            True,
            bot_id=self.bot.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.bot_role_id = bot_role.id
        self.guilds[guild_id] = guild
        self.add_member(guild, owner)
        self.add_member(guild, self.bot, roles=[bot_role.id])
        return guild

    def add_member(
        self, guild: Guild, user: User, *, nick: str | None = None, roles: list[int] | None = None
    ) -> Member:
        member = Member(user=user, guild_id=guild.id, nick=nick, roles=list(roles or []))
        guild.members[user.id] = member
        return member

    def add_role(self, guild: Guild, name: str, *, permissions: int = 0) -> Role:
        role = Role(self.next_id(), guild.id, name, permissions, position=len(guild.roles))
        guild.roles[role.id] = role
        return role

    def add_channel(self, guild: Guild, name: str, **fields: Any) -> Channel:
        fields.setdefault("position", len(guild.text_channels))
        channel = Channel(id=fields.pop("id", None) or self.next_id(), guild_id=guild.id, name=name)
        for key, value in fields.items():
            setattr(channel, key, value)
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def add_webhook(self, channel: Channel, name: str, *, creator: User) -> Webhook:
        webhook = Webhook(
            id=self.next_id(),
            token=secrets.token_urlsafe(48),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            name=name,
            creator_id=creator.id,
            # Webhooks a bot creates belong to its application.
            application_id=self.application_id if creator.id == self.bot.id else None,
        )
        self.webhooks[webhook.id] = webhook
        return webhook

    # -- lookups ------------------------------------------------------------------------------

    def guild_of(self, channel: Channel) -> Guild:
        return self.guilds[channel.guild_id]

    def member(self, guild: Guild, user_id: int) -> Member | None:
        return guild.members.get(user_id)

    def bot_member(self, guild: Guild) -> Member:
        return guild.members[self.bot.id]

    def permissions_in(self, channel: Channel, user_id: int) -> int:
        """Effective permissions of ``user_id`` in ``channel`` (threads use their parent)."""
        guild = self.guild_of(channel)
        member = guild.members.get(user_id)
        if member is None:
            return 0
        target = (
            self.channels.get(channel.parent_id)
            if channel.is_thread and channel.parent_id is not None
            else channel
        )
        overwrites = target.overwrites if target is not None else []
        return perms.compute(guild, member, overwrites)

    def channel_messages(self, channel_id: int) -> list[StoredMessage]:
        """Visible (non-ephemeral, not deleted) messages of a channel, oldest first."""
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id and not m.deleted and not m.ephemeral
        ]

    def webhooks_in(self, channel_id: int) -> list[Webhook]:
        return [w for w in self.webhooks.values() if w.channel_id == channel_id]
