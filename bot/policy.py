"""Who may do what, where: the rules the Discord layer applies, kept free of Discord types.

Front ends describe the caller and the place with plain values; these functions answer with a
GalateaError that says what to do, or nothing when it is allowed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from bot.common.memo import LruCache
from bot.errors import PermissionDenied
from bot.values import ChannelSession, Character, GuildSettings


@dataclass(frozen=True, slots=True)
class Caller:
    """The person acting, as the front end sees them."""

    user_id: int
    display_name: str
    role_ids: frozenset[int] = frozenset()
    is_admin: bool = False  # Manage Server (or owner)

    @property
    def is_operator(self) -> bool:
        return self == OPERATOR


# Whoever runs the bot (the console, start-up and maintenance paths): an admin of every
# server, held to the same rules as one. Front ends for members never use it.
OPERATOR = Caller(user_id=0, display_name="operator", is_admin=True)


# Whoever runs the bot (the console, scripts): an admin of every server, held to the same rules.
OPERATOR = Caller(user_id=0, display_name="operator", is_admin=True)


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


def check_session_rights(caller: Caller, session: ChannelSession) -> None:
    """Who may change a running roleplay (stop, reset, note, cast, world, pause): whoever
    started it, or a server admin."""
    if caller.is_admin or caller.user_id == session.started_by:
        return
    raise PermissionDenied("Only whoever started this roleplay, or a server admin, can do that.")


def check_can_unpin(caller: Caller, session: ChannelSession, pinned_by: int | None) -> None:
    """A pinned fact goes when whoever pinned it says so, or whoever may change the roleplay."""
    if caller.user_id == pinned_by and not caller.is_operator:
        return
    try:
        check_session_rights(caller, session)
    except PermissionDenied:
        raise PermissionDenied(
            "Only whoever pinned that fact, whoever started this roleplay or a server admin "
            "can unpin it."
        ) from None


def check_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise PermissionDenied("This needs the Manage Server permission.")


def check_can_configure(caller: Caller) -> None:
    """A server's settings (``/config``, reading them too) are for its admins."""
    check_admin(caller)


def check_can_manage_worlds(caller: Caller) -> None:
    """Server worlds (created, imported, deleted, entries changed) are for admins."""
    check_admin(caller)


def check_own_data(caller: Caller, user_id: int) -> None:
    """A member's persona and stored data are changed or erased by that member alone (or by
    the operator): an admin does not rename members or erase them."""
    if caller.user_id != user_id and not caller.is_operator:
        raise PermissionDenied("You can change or erase only your own persona and data.")


def check_operator(caller: Caller) -> None:
    """Maintenance (the retention prune) is run by whoever runs the bot, never by a member."""
    if not caller.is_operator:
        raise PermissionDenied("Only whoever runs Galatea can do that.")


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

    REMEMBERED = 50_000  # members; the least recently heard from go first

    def __init__(self) -> None:
        self._last: LruCache[tuple[int, int], float] = LruCache(self.REMEMBERED)

    def remaining(self, guild_id: int, user_id: int, seconds: float) -> float:
        if seconds <= 0:
            return 0.0
        last = self._last.get((guild_id, user_id))
        now = time.monotonic()
        if last is not None and now - last < seconds:
            return seconds - (now - last)
        self._last[(guild_id, user_id)] = now
        return 0.0


class ReplyLimit:
    """At most ``per_minute`` reply requests per key in any 60 seconds (0: no limit).

    A key is whatever the limit counts by (a channel, a member of a server). Messages past
    the limit still join the history; they only do not ask for a reply. ``first_hold`` says
    whether to tell people a reply was held: once a minute per key, so a note never spams.
    """

    WINDOW = 60.0
    MAX_KEYS = 50_000  # bounded: keys with nothing counted in the window are dropped past it

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._recent: dict[Hashable, deque[float]] = {}
        self._told_until: dict[Hashable, float] = {}

    def full(self, key: Hashable) -> bool:
        """Whether ``key`` has used up its replies for now (counts nothing)."""
        if self.per_minute <= 0:
            return False
        return len(self._window(key)) >= self.per_minute

    def count(self, key: Hashable) -> None:
        """Count one reply request for ``key``."""
        if self.per_minute > 0:
            self._window(key).append(self._clock())

    def allow(self, key: Hashable) -> bool:
        """Whether a reply may be asked for now; counts it when it may."""
        if self.full(key):
            return False
        self.count(key)
        return True

    def first_hold(self, key: Hashable) -> bool:
        """Whether this hold is the first for ``key`` in a minute (then say so, once)."""
        now = self._clock()
        if now < self._told_until.get(key, float("-inf")):
            return False
        self._told_until[key] = now + self.WINDOW
        return True

    def _window(self, key: Hashable) -> deque[float]:
        now = self._clock()
        recent = self._recent.get(key)
        if recent is None:
            if len(self._recent) >= self.MAX_KEYS:
                self._forget_idle(now)
            recent = self._recent[key] = deque()
        while recent and now - recent[0] >= self.WINDOW:
            recent.popleft()
        return recent

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, r in self._recent.items() if not r or now - r[-1] >= self.WINDOW]:
            del self._recent[key]
        for key in [k for k, until in self._told_until.items() if until <= now]:
            del self._told_until[key]


class ChannelReplyLimit(ReplyLimit):
    """Reply requests per channel a minute (REPLIES_PER_CHANNEL_PER_MINUTE); key: channel id."""

    def note(self, character_name: str) -> str:
        """What the channel is told, once a minute, when this limit holds a reply."""
        return (
            f"{character_name} needs a moment: replies here are limited to "
            f"{_per_minute(self.per_minute)}. Your messages are kept in the story."
        )


class UserReplyLimit(ReplyLimit):
    """Reply requests per member across a server a minute (REPLIES_PER_USER_PER_MINUTE); key:
    ``(guild_id, user_id)``."""

    def note(self, character_name: str) -> str:
        """What a member is told, once a minute, when this limit holds their reply."""
        return (
            f"You are writing faster than {character_name} can answer: each member gets "
            f"{_per_minute(self.per_minute)}. Your messages are kept in the story; the next "
            "reply covers them."
        )


def _per_minute(count: int) -> str:
    return "one reply a minute" if count == 1 else f"{count} replies a minute"
