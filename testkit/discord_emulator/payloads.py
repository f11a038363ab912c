"""Builders for Discord-shaped JSON objects, shaped so discord.py's models parse them."""

from __future__ import annotations

from typing import Any

from testkit.discord_emulator.state import (
    Channel,
    Guild,
    Member,
    Role,
    StoredFile,
    User,
    Webhook,
    World,
)

# Application flags for an unverified bot with all privileged intents switched on (the
# "*_LIMITED" bits): presence 1<<13, guild members 1<<15, message content 1<<19.
APPLICATION_FLAGS = (1 << 13) | (1 << 15) | (1 << 19)


def user(u: User) -> dict[str, Any]:
    return {
        "id": str(u.id),
        "username": u.username,
        "discriminator": u.discriminator,
        "global_name": u.global_name,
        "avatar": u.avatar,
        "bot": u.bot,
        "system": False,
        "public_flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
    }


def current_user(u: User) -> dict[str, Any]:
    """``GET /users/@me`` / READY ``user``: the user object plus account fields."""
    return {**user(u), "verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US"}


def member(m: Member, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "nick": m.nick,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in m.roles],
        "joined_at": m.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }
    if with_user:
        data["user"] = user(m.user)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def role(r: Role) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(r.id),
        "name": r.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": r.position,
        "permissions": str(r.permissions),
        "managed": r.managed,
        "mentionable": r.mentionable,
        "flags": 0,
    }
    if r.bot_id is not None:
        data["tags"] = {"bot_id": str(r.bot_id)}
    return data


def channel(c: Channel, *, with_guild_id: bool = True) -> dict[str, Any]:
    """A guild text channel or a thread, depending on ``c.type``."""
    if c.is_thread:
        return thread(c)
    data: dict[str, Any] = {
        "id": str(c.id),
        "type": c.type,
        "name": c.name,
        "position": c.position,
        "parent_id": None,
        "topic": c.topic,
        "nsfw": c.nsfw,
        "rate_limit_per_user": c.rate_limit_per_user,
        "last_message_id": str(c.last_message_id) if c.last_message_id else None,
        "permission_overwrites": [
            {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
            for o in c.overwrites
        ],
        "default_auto_archive_duration": c.auto_archive_duration,
        "flags": 0,
    }
    if with_guild_id:
        data["guild_id"] = str(c.guild_id)
    return data


def thread(c: Channel) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "guild_id": str(c.guild_id),
        "parent_id": str(c.parent_id),
        "owner_id": str(c.owner_id),
        "type": c.type,
        "name": c.name,
        "last_message_id": str(c.last_message_id) if c.last_message_id else None,
        "rate_limit_per_user": c.rate_limit_per_user,
        "message_count": c.message_count,
        "member_count": 1,
        "total_message_sent": c.message_count,
        "flags": 0,
        "applied_tags": [],
        "thread_metadata": {
            "archived": c.archived,
            "auto_archive_duration": c.auto_archive_duration,
            "archive_timestamp": c.created_at,
            "locked": c.locked,
            "invitable": True,
            "create_timestamp": c.created_at,
        },
    }


def guild(g: Guild) -> dict[str, Any]:
    """The REST guild object (``GET /guilds/{id}``)."""
    return {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(g.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "preferred_locale": "en-US",
        "features": [],
        "roles": [role(r) for r in g.roles.values()],
        "emojis": [],
        "stickers": [],
        "vanity_url_code": None,
        "max_members": 500000,
        "max_presences": None,
    }


def guild_create(g: Guild, *, members: list[Member]) -> dict[str, Any]:
    """The GUILD_CREATE gateway payload (guild plus channels, threads and ``members``)."""
    return {
        **guild(g),
        "joined_at": g.joined_at,
        "large": False,
        "unavailable": False,
        "member_count": len(g.members),
        "members": [member(m) for m in members],
        "channels": [channel(c, with_guild_id=False) for c in g.text_channels],
        "threads": [thread(c) for c in g.threads if not c.archived],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def webhook(w: Webhook, world: World, *, with_token: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(w.id),
        "type": w.type,
        "guild_id": str(w.guild_id),
        "channel_id": str(w.channel_id),
        "name": w.name,
        "avatar": w.avatar,
        "application_id": str(w.application_id) if w.application_id else None,
        "user": user(world.users[w.creator_id]),
    }
    if with_token:
        data["token"] = w.token
    return data


def webhook_author(w: Webhook, username: str | None) -> dict[str, Any]:
    """Webhook messages are authored by a pseudo-user with the webhook id and bot flag."""
    return {
        "id": str(w.id),
        "username": username or w.name,
        "discriminator": "0000",
        "global_name": None,
        "avatar": w.avatar,
        "bot": True,
        "public_flags": 0,
    }


def attachment(f: StoredFile) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(f.id),
        "filename": f.filename,
        "size": f.size,
        "url": f.url,
        "proxy_url": f.url,
        "content_type": f.content_type,
        "flags": 0,
    }
    if f.description is not None:
        data["description"] = f.description
    return data


def application(world: World) -> dict[str, Any]:
    """``GET /oauth2/applications/@me``."""
    return {
        "id": str(world.application_id),
        "name": world.bot.username,
        "icon": None,
        "description": "Emulated application",
        "rpc_origins": [],
        "bot_public": True,
        "bot_require_code_grant": False,
        "bot": user(world.bot),
        "owner": user(world.owner),
        "team": None,
        "verify_key": "0" * 64,
        "flags": APPLICATION_FLAGS,
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "approximate_guild_count": len(world.guilds),
        "integration_types_config": {"0": {}},
    }


def interaction_guild(g: Guild) -> dict[str, Any]:
    """The partial guild Discord attaches to interactions."""
    return {"id": str(g.id), "locale": "en-US", "features": []}
