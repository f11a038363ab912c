"""Discord permission bits and the effective-permission computation Discord performs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from testkit.discord_emulator.state import Guild, Member, Overwrite

CREATE_INSTANT_INVITE = 1 << 0
KICK_MEMBERS = 1 << 1
BAN_MEMBERS = 1 << 2
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CHANGE_NICKNAME = 1 << 26
MANAGE_ROLES = 1 << 28
MANAGE_WEBHOOKS = 1 << 29
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38

ALL = (1 << 51) - 1

# What a fresh guild's @everyone role gets.
DEFAULT_EVERYONE = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | MENTION_EVERYONE
    | USE_EXTERNAL_EMOJIS
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | SEND_MESSAGES_IN_THREADS
)

# What the Galatea bot is invited with (its managed role); tests remove bits to provoke 403s.
DEFAULT_BOT = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | SEND_MESSAGES_IN_THREADS
    | READ_MESSAGE_HISTORY
    | EMBED_LINKS
    | ATTACH_FILES
    | ADD_REACTIONS
    | USE_EXTERNAL_EMOJIS
    | MANAGE_MESSAGES
    | MANAGE_WEBHOOKS
    | MANAGE_THREADS
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
)


def base(guild: Guild, member: Member) -> int:
    """Guild-level permissions: owner and administrators get everything."""
    if member.id == guild.owner_id:
        return ALL
    value = guild.everyone.permissions
    for role_id in member.roles:
        role = guild.roles.get(role_id)
        if role is not None:
            value |= role.permissions
    return ALL if value & ADMINISTRATOR else value


def compute(guild: Guild, member: Member, overwrites: Iterable[Overwrite]) -> int:
    """Channel permissions following Discord's documented overwrite order."""
    value = base(guild, member)
    if value & ADMINISTRATOR:
        return ALL
    overwrites = list(overwrites)
    everyone = next((o for o in overwrites if o.type == 0 and o.id == guild.id), None)
    if everyone is not None:
        value = (value & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for ow in overwrites:
        if ow.type == 0 and ow.id in member.roles:
            allow |= ow.allow
            deny |= ow.deny
    value = (value & ~deny) | allow
    own = next((o for o in overwrites if o.type == 1 and o.id == member.id), None)
    if own is not None:
        value = (value & ~own.deny) | own.allow
    # Without VIEW_CHANNEL a member has no permissions at all in that channel.
    return value if value & VIEW_CHANNEL else 0
