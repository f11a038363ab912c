"""Gateway intents: which events a session receives and what MESSAGE_CONTENT hides."""

from __future__ import annotations

from typing import Any

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_WEBHOOKS = 1 << 5
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

_EVENT_INTENT = {
    "GUILD_CREATE": GUILDS,
    "GUILD_UPDATE": GUILDS,
    "GUILD_DELETE": GUILDS,
    "GUILD_ROLE_CREATE": GUILDS,
    "GUILD_ROLE_UPDATE": GUILDS,
    "GUILD_ROLE_DELETE": GUILDS,
    "CHANNEL_CREATE": GUILDS,
    "CHANNEL_UPDATE": GUILDS,
    "CHANNEL_DELETE": GUILDS,
    "THREAD_CREATE": GUILDS,
    "THREAD_UPDATE": GUILDS,
    "THREAD_DELETE": GUILDS,
    "WEBHOOKS_UPDATE": GUILD_WEBHOOKS,
    "GUILD_MEMBER_ADD": GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": GUILD_MEMBERS,
    "MESSAGE_REACTION_ADD": GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE": GUILD_MESSAGE_REACTIONS,
}
_MESSAGE_EVENTS = frozenset({"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"})
_CONTENT_FIELDS = {"content": "", "embeds": [], "attachments": [], "components": []}


def shape(event: str, data: dict[str, Any], intents: int, bot_id: int) -> dict[str, Any] | None:
    """The payload this session gets for ``event`` (``None``: not subscribed to it)."""
    if event in _MESSAGE_EVENTS:
        in_guild = "guild_id" in data
        if not intents & (GUILD_MESSAGES if in_guild else DIRECT_MESSAGES):
            return None
        if event != "MESSAGE_DELETE" and in_guild and not intents & MESSAGE_CONTENT:
            return _without_content(data, bot_id)
        return data
    needed = _EVENT_INTENT.get(event)
    if needed is not None and not intents & needed:
        return None
    return data


def _without_content(data: dict[str, Any], bot_id: int) -> dict[str, Any]:
    """Without MESSAGE_CONTENT Discord blanks content unless the bot wrote it or is mentioned."""
    author_id = int(data.get("author", {}).get("id", 0))
    mentioned = any(int(u["id"]) == bot_id for u in data.get("mentions", []))
    if author_id == bot_id or mentioned:
        return data
    return {**data, **_CONTENT_FIELDS}
