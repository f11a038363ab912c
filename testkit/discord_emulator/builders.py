"""World builders for tests: guilds, channels, threads, members, roles and permissions.

Everything built after the bot connected is announced on the gateway (GUILD_CREATE,
CHANNEL_CREATE, THREAD_CREATE, GUILD_MEMBER_ADD, ...) so discord.py's cache stays in sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testkit.discord_emulator import payloads
from testkit.discord_emulator import permissions as perms
from testkit.discord_emulator.state import (
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    Channel,
    Guild,
    Member,
    Overwrite,
    Role,
    User,
    Webhook,
    World,
)


class BuilderMixin:
    if TYPE_CHECKING:
        world: World

        def dispatch(self, event: str, data: dict[str, Any]) -> None: ...

    def add_user(self, username: str, *, global_name: str | None = None, bot: bool = False) -> User:
        return self.world.add_user(username, global_name=global_name, bot=bot)

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        owner: User | None = None,
        bot_permissions: int = perms.DEFAULT_BOT,
        everyone_permissions: int = perms.DEFAULT_EVERYONE,
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        """A guild (announced with GUILD_CREATE); ``shard=(id, count)`` picks an id whose
        events go to that shard."""
        guild = self.world.add_guild(
            name,
            owner=owner,
            bot_permissions=bot_permissions,
            everyone_permissions=everyone_permissions,
            shard=shard,
        )
        self.dispatch(
            "GUILD_CREATE", payloads.guild_create(guild, members=list(guild.members.values()))
        )
        return guild

    def add_text_channel(
        self, guild: Guild, name: str = "general", *, nsfw: bool = False, topic: str | None = None
    ) -> Channel:
        channel = self.world.add_channel(guild, name, nsfw=nsfw, topic=topic)
        self.dispatch("CHANNEL_CREATE", payloads.channel(channel))
        return channel

    def add_thread(
        self, parent: Channel, name: str, *, owner: User | None = None, private: bool = False
    ) -> Channel:
        return self.create_thread(parent, name, owner=owner or self.world.bot, private=private)

    def create_thread(
        self,
        parent: Channel,
        name: str,
        *,
        owner: User,
        private: bool = False,
        thread_id: int | None = None,
        auto_archive_duration: int = 1440,
    ) -> Channel:
        guild = self.world.guild_of(parent)
        thread = self.world.add_channel(
            guild,
            name,
            id=thread_id,
            type=PRIVATE_THREAD if private else PUBLIC_THREAD,
            parent_id=parent.id,
            owner_id=owner.id,
            nsfw=parent.nsfw,
            auto_archive_duration=auto_archive_duration,
        )
        self.dispatch("THREAD_CREATE", {**payloads.thread(thread), "newly_created": True})
        return thread

    def add_member(
        self,
        guild: Guild,
        user: User | str,
        *,
        nick: str | None = None,
        roles: list[Role] | None = None,
    ) -> Member:
        if isinstance(user, str):
            user = self.add_user(user)
        role_ids = [r.id for r in roles or []]
        member = self.world.add_member(guild, user, nick=nick, roles=role_ids)
        self.dispatch("GUILD_MEMBER_ADD", {**payloads.member(member), "guild_id": str(guild.id)})
        return member

    def add_role(self, guild: Guild, name: str, *, permissions: int = 0) -> Role:
        role = self.world.add_role(guild, name, permissions=permissions)
        self.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": payloads.role(role)})
        return role

    def set_role_permissions(self, role: Role, permissions: int) -> None:
        role.permissions = permissions
        self.dispatch(
            "GUILD_ROLE_UPDATE", {"guild_id": str(role.guild_id), "role": payloads.role(role)}
        )

    def set_bot_permissions(self, guild: Guild, permissions: int) -> None:
        """Change the permissions of the bot's managed role (e.g. drop MANAGE_WEBHOOKS)."""
        assert guild.bot_role_id is not None
        self.set_role_permissions(guild.roles[guild.bot_role_id], permissions)

    def set_overwrite(
        self, channel: Channel, target: Role | Member | User, *, allow: int = 0, deny: int = 0
    ) -> None:
        kind = 0 if isinstance(target, Role) else 1
        channel.overwrites = [o for o in channel.overwrites if o.id != target.id]
        channel.overwrites.append(Overwrite(target.id, kind, allow, deny))
        self.dispatch("CHANNEL_UPDATE", payloads.channel(channel))

    def set_nsfw(self, channel: Channel, nsfw: bool) -> None:
        channel.nsfw = nsfw
        self.dispatch("CHANNEL_UPDATE", payloads.channel(channel))

    def delete_webhook(self, webhook: Webhook, *, announce: bool = True) -> None:
        """A moderator deletes a webhook (Server Settings > Integrations): later uses of it
        answer 10015 Unknown Webhook. ``announce=False`` holds back the WEBHOOKS_UPDATE event
        (a gateway that lags behind REST, or a bot that missed it)."""
        del self.world.webhooks[webhook.id]
        if announce:
            self.dispatch(
                "WEBHOOKS_UPDATE",
                {"guild_id": str(webhook.guild_id), "channel_id": str(webhook.channel_id)},
            )
