"""Who may do what, where: the rules the Discord layer applies, kept free of Discord types.

Front ends describe the caller and the place with plain values; these functions answer with a
GalateaError that says what to do, or nothing when it is allowed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.errors import PermissionDenied
from bot.values import Character, GuildSettings


@dataclass(frozen=True, slots=True)
class Caller:
    """The person acting, as the front end sees them."""

    user_id: int
    display_name: str
    role_ids: frozenset[int] = frozenset()
    is_admin: bool = False  # Manage Server (or owner)


@dataclass(frozen=True, slots=True)
class Place:
    """Where they act."""

    guild_id: int
    channel_id: int
    parent_channel_id: int | None = None  # the channel a thread belongs to
    age_restricted: bool = False


def _has_any_role(caller: Caller, roles: Iterable[int] | None) -> bool:
    return roles is None or caller.is_admin or bool(caller.role_ids & set(roles))


def check_channel_allowed(config: GuildSettings, place: Place) -> None:
    allowed = config.allowed_channel_ids
    if allowed is None:
        return
    if place.channel_id in allowed or (place.parent_channel_id in allowed):
        return
    raise PermissionDenied(
        "Roleplay is not enabled in this channel. An admin can allow it with `/config channels`."
    )


def check_can_create_characters(config: GuildSettings, caller: Caller) -> None:
    if not _has_any_role(caller, config.creator_role_ids):
        raise PermissionDenied(
            "Creating characters on this server needs one of the roles set by the admins "
            "(`/config show` lists them)."
        )


def check_can_start_sessions(config: GuildSettings, caller: Caller) -> None:
    if not _has_any_role(caller, config.session_role_ids):
        raise PermissionDenied(
            "Starting roleplay sessions on this server needs one of the roles set by the "
            "admins (`/config show` lists them)."
        )


def check_can_change_character(character: Character, caller: Caller) -> None:
    if caller.user_id != character.owner_id and not caller.is_admin:
        raise PermissionDenied(
            f"Only {character.name}'s creator or a server admin (Manage Server) can change "
            "or delete it."
        )


def check_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise PermissionDenied("This needs the Manage Server permission.")


def check_nsfw_allowed(config: GuildSettings, character: Character, place: Place) -> None:
    """NSFW characters play only in age-restricted channels unless the server says otherwise."""
    if not character.nsfw:
        return
    if config.nsfw_rule == "allow":
        return
    if config.nsfw_rule == "never":
        raise PermissionDenied(
            f"{character.name} is marked NSFW, and this server does not allow NSFW characters."
        )
    if not place.age_restricted:
        raise PermissionDenied(
            f"{character.name} is marked NSFW and plays only in age-restricted channels. Mark "
            "this channel age-restricted, or pick another character."
        )


class Cooldowns:
    """Per-user cooldown between messages that make the character speak."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, int], float] = {}

    def remaining(self, guild_id: int, user_id: int, seconds: float) -> float:
        if seconds <= 0:
            return 0.0
        last = self._last.get((guild_id, user_id))
        now = time.monotonic()
        if last is not None and now - last < seconds:
            return seconds - (now - last)
        self._last[(guild_id, user_id)] = now
        if len(self._last) > 50_000:  # bounded: drop the oldest half
            for key in sorted(self._last, key=self._last.__getitem__)[:25_000]:
                del self._last[key]
        return 0.0


class ChannelReplyLimit:
    """At most ``per_minute`` reply requests per channel in any 60 seconds (0: no limit).

    Messages past the limit still join the history; they only do not ask for a reply."""

    WINDOW = 60.0

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._recent: dict[int, deque[float]] = {}

    def allow(self, channel_id: int) -> bool:
        """Whether a reply may be asked for now in the channel; counts it when it may."""
        if self.per_minute <= 0:
            return True
        now = self._clock()
        recent = self._recent.setdefault(channel_id, deque())
        while recent and now - recent[0] >= self.WINDOW:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return False
        recent.append(now)
        return True
