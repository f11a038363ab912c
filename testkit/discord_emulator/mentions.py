"""Mention resolution as Discord performs it, honouring ``allowed_mentions``.

Only mentions that would really ping end up in ``mentions`` / ``mention_roles`` /
``mention_everyone``: with ``allowed_mentions={"parse": []}`` an ``@everyone`` in the
content pings nobody and ``mention_everyone`` stays false.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from testkit.discord_emulator import payloads
from testkit.discord_emulator import permissions as perms
from testkit.discord_emulator.state import Guild, World

_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")
_EVERYONE = re.compile(r"@(everyone|here)")


@dataclass
class Mentions:
    users: list[dict[str, Any]] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    everyone: bool = False


def resolve(
    world: World,
    *,
    content: str,
    allowed: dict[str, Any] | None,
    guild: Guild | None,
    author_permissions: int,
    is_webhook: bool,
    replied_user_id: int | None = None,
) -> Mentions:
    """Compute what ``content`` pings, given the author's rights and ``allowed_mentions``."""
    # Without allowed_mentions Discord parses everything; with it, only what is listed.
    parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse", []))
    allowed_users = {int(u) for u in (allowed or {}).get("users", [])}
    allowed_roles = {int(r) for r in (allowed or {}).get("roles", [])}
    ping_reply = allowed is None or bool(allowed.get("replied_user", False))

    result = Mentions()
    user_ids: list[int] = []
    for match in _USER.finditer(content):
        uid = int(match.group(1))
        if uid in world.users and ("users" in parse or uid in allowed_users):
            user_ids.append(uid)
    if replied_user_id is not None and ping_reply and replied_user_id in world.users:
        user_ids.append(replied_user_id)  # a reply to a webhook message pings no user
    for uid in dict.fromkeys(user_ids):  # de-duplicate, keep order
        entry = payloads.user(world.users[uid])
        if guild is not None and uid in guild.members:
            entry["member"] = payloads.member(guild.members[uid], with_user=False)
        result.users.append(entry)

    can_ping_all = is_webhook or bool(author_permissions & perms.MENTION_EVERYONE)
    if guild is not None:
        for match in _ROLE.finditer(content):
            role = guild.roles.get(int(match.group(1)))
            if role is None or not ("roles" in parse or role.id in allowed_roles):
                continue
            if (role.mentionable or can_ping_all) and str(role.id) not in result.roles:
                result.roles.append(str(role.id))
    result.everyone = bool(_EVERYONE.search(content)) and "everyone" in parse and can_ping_all
    return result
