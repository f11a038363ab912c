"""Server configuration with validation: what /config may set, and to what."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Final

from bot.common.memo import ExpiringMemo
from bot.errors import InvalidInput
from bot.inference.presets import PRESETS
from bot.policy import Caller, check_can_configure
from bot.store import Database, UnitOfWork
from bot.values import GuildSettings


class Setting(StrEnum):
    """What /config may set; each value names the GuildSettings field it changes."""

    ALLOWED_CHANNELS = "allowed_channel_ids"
    CREATOR_ROLES = "creator_role_ids"
    SESSION_ROLES = "session_role_ids"
    REPLY_MODE = "reply_mode"
    OOC_PREFIX = "ooc_prefix"
    MAX_REPLY_TOKENS = "max_reply_tokens"
    SAMPLER_PRESET = "sampler_preset"
    USER_COOLDOWN = "user_cooldown_seconds"
    NSFW_RULE = "nsfw_rule"
    MAX_CHARACTERS = "max_characters"
    REPLIES_PER_MESSAGE = "replies_per_message"


class ReplyMode(StrEnum):
    ALL = "all"  # every message
    MENTION = "mention"  # only when the character is named, mentioned or replied to


class NsfwRule(StrEnum):
    AGE_RESTRICTED = "age_restricted"
    ALLOW = "allow"
    NEVER = "never"


MAX_OOC_PREFIX = 8
MAX_COOLDOWN_SECONDS = 3600.0
REPLY_TOKENS_RANGE = (16, 1024)
MAX_CHARACTERS_RANGE = (1, 10)  # characters in a scene: each may hold a webhook (15 a channel)
REPLIES_PER_MESSAGE_RANGE = (1, 10)


def _number(value: object, problem: str) -> float:
    """A number from what a front end gave (an int, a float or digits), else InvalidInput."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidInput(problem)


def _whole_in(bounds: tuple[int, int], problem: str) -> Callable[[object], int]:
    def check(value: object) -> int:
        number = _number(value, problem)
        if not number.is_integer() or not bounds[0] <= number <= bounds[1]:
            raise InvalidInput(problem)
        return int(number)

    return check


def _optional(check: Callable[[object], object]) -> Callable[[object], object]:
    """None resets the setting to the bot's default."""
    return lambda value: None if value is None else check(value)


def _one_of(choices: type[StrEnum], problem: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str) or value not in {c.value for c in choices}:
            raise InvalidInput(problem)
        return str(value)

    return check


def _ids(value: object) -> tuple[int, ...] | None:
    """Channel or role ids; None: no restriction (every channel, everyone)."""
    if value is None:
        return None
    if isinstance(value, tuple | list) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    ):
        return tuple(int(i) for i in value)
    raise InvalidInput("Channels and roles are given by their ids.")


def _ooc_prefix(value: object) -> str:
    text = str(value).strip()
    if not 1 <= len(text) <= MAX_OOC_PREFIX or any(c.isspace() for c in text):
        raise InvalidInput(
            f"The out-of-character prefix must be 1 to {MAX_OOC_PREFIX} characters, without spaces."
        )
    return text


def _cooldown(value: object) -> float:
    problem = "The cooldown must be between 0 and 3600 seconds."
    seconds = _number(value, problem)
    if not 0 <= seconds <= MAX_COOLDOWN_SECONDS:
        raise InvalidInput(problem)
    return seconds


def _preset(value: object) -> str:
    if not isinstance(value, str) or value not in PRESETS:
        raise InvalidInput("Unknown sampler preset. Choose one of: " + ", ".join(PRESETS) + ".")
    return value


# One rule per setting: what it accepts, normalised to what is stored.
_RULES: Final[Mapping[Setting, Callable[[object], object]]] = {
    Setting.ALLOWED_CHANNELS: _ids,
    Setting.CREATOR_ROLES: _ids,
    Setting.SESSION_ROLES: _ids,
    Setting.REPLY_MODE: _one_of(
        ReplyMode, "Reply mode must be `all` (every message) or `mention`."
    ),
    Setting.OOC_PREFIX: _ooc_prefix,
    Setting.MAX_REPLY_TOKENS: _optional(
        _whole_in(
            REPLY_TOKENS_RANGE,
            "The maximum reply length must be {} to {} tokens.".format(*REPLY_TOKENS_RANGE),
        )
    ),
    Setting.SAMPLER_PRESET: _optional(_preset),
    Setting.USER_COOLDOWN: _cooldown,
    Setting.NSFW_RULE: _one_of(
        NsfwRule, "The NSFW rule must be `age_restricted`, `allow` or `never`."
    ),
    Setting.MAX_CHARACTERS: _whole_in(
        MAX_CHARACTERS_RANGE,
        "A roleplay can have {} to {} characters.".format(*MAX_CHARACTERS_RANGE),
    ),
    Setting.REPLIES_PER_MESSAGE: _whole_in(
        REPLIES_PER_MESSAGE_RANGE,
        "Replies per message must be {} to {}.".format(*REPLIES_PER_MESSAGE_RANGE),
    ),
}


def validate_change(setting: Setting, value: object) -> object:
    """Check one setting's new value; returns it normalised or raises InvalidInput."""
    return _RULES[setting](value)


class GuildConfigService:
    """A server's settings. Every message reads them, so they are kept in memory for
    ``CACHE_SECONDS``; a change made here shows at once, one made by another process (a
    shard's rolling deploy) within that time."""

    CACHE_SECONDS = 10.0

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = database
        self._memo: ExpiringMemo[int, GuildSettings] = ExpiringMemo(self.CACHE_SECONDS, clock=clock)

    @staticmethod
    def check_can_configure(caller: Caller) -> None:
        """Refuse early (before a front end shows or asks anything): settings are for admins."""
        check_can_configure(caller)

    async def get(self, guild_id: int, *, uow: UnitOfWork | None = None) -> GuildSettings:
        """``uow``: read there when not in memory (a caller's unit of work, not a new one)."""

        async def read() -> GuildSettings:
            if uow is not None:
                return await uow.guilds.get(guild_id)
            async with self._db.read() as own:
                return await own.guilds.get(guild_id)

        return await self._memo.get(guild_id, read)

    async def update(
        self, guild_id: int, changes: Mapping[Setting, object], *, caller: Caller
    ) -> GuildSettings:
        check_can_configure(caller)
        clean = {
            setting.value: validate_change(setting, value) for setting, value in changes.items()
        }
        self._memo.forget(guild_id)
        async with self._db.write() as uow:
            settings = await uow.guilds.update(guild_id, clean)
        self._memo.forget(guild_id)
        self._memo.put(guild_id, settings)
        return settings
