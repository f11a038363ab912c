"""Server configuration with validation: what /config may set, and to what."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.common.memo import ExpiringMemo
from bot.errors import InvalidInput
from bot.inference.presets import PRESETS
from bot.store import Database, UnitOfWork
from bot.values import GuildSettings

REPLY_MODES = ("all", "mention")
NSFW_RULES = ("age_restricted", "allow", "never")
MAX_OOC_PREFIX = 8
MAX_COOLDOWN_SECONDS = 3600.0
REPLY_TOKENS_RANGE = (16, 1024)
MAX_CHARACTERS_RANGE = (1, 10)  # characters in a scene: each may hold a webhook (15 a channel)
REPLIES_PER_MESSAGE_RANGE = (1, 10)


def validate_change(name: str, value: object) -> object:
    """Check one setting's new value; returns it normalised or raises InvalidInput."""
    if name == "reply_mode" and value not in REPLY_MODES:
        raise InvalidInput("Reply mode must be `all` (every message) or `mention`.")
    if name == "nsfw_rule" and value not in NSFW_RULES:
        raise InvalidInput("The NSFW rule must be `age_restricted`, `allow` or `never`.")
    if name == "ooc_prefix":
        text = str(value).strip()
        if not 1 <= len(text) <= MAX_OOC_PREFIX or any(c.isspace() for c in text):
            raise InvalidInput(
                f"The out-of-character prefix must be 1 to {MAX_OOC_PREFIX} characters, "
                "without spaces."
            )
        return text
    if name == "user_cooldown_seconds":
        seconds = float(value)  # type: ignore[arg-type]
        if not 0 <= seconds <= MAX_COOLDOWN_SECONDS:
            raise InvalidInput("The cooldown must be between 0 and 3600 seconds.")
        return seconds
    if name == "max_reply_tokens" and value is not None:
        low, high = REPLY_TOKENS_RANGE
        if not low <= int(value) <= high:  # type: ignore[call-overload]
            raise InvalidInput(f"The maximum reply length must be {low} to {high} tokens.")
    if name == "max_characters":
        low, high = MAX_CHARACTERS_RANGE
        if not low <= int(value) <= high:  # type: ignore[call-overload]
            raise InvalidInput(f"A roleplay can have {low} to {high} characters.")
        return int(value)  # type: ignore[call-overload]
    if name == "replies_per_message":
        low, high = REPLIES_PER_MESSAGE_RANGE
        if not low <= int(value) <= high:  # type: ignore[call-overload]
            raise InvalidInput(f"Replies per message must be {low} to {high}.")
        return int(value)  # type: ignore[call-overload]
    if name == "sampler_preset" and value is not None and value not in PRESETS:
        raise InvalidInput("Unknown sampler preset. Choose one of: " + ", ".join(PRESETS) + ".")
    return value


class GuildConfigService:
    """A server's settings. Every message reads them, so they are kept in memory for
    ``CACHE_SECONDS``; a change made here shows at once, one made by another process (a
    shard's rolling deploy) within that time."""

    CACHE_SECONDS = 10.0

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = database
        self._memo: ExpiringMemo[int, GuildSettings] = ExpiringMemo(self.CACHE_SECONDS, clock=clock)

    async def get(self, guild_id: int, *, uow: UnitOfWork | None = None) -> GuildSettings:
        """``uow``: read there when not in memory (a caller's unit of work, not a new one)."""

        async def read() -> GuildSettings:
            if uow is not None:
                return await uow.guilds.get(guild_id)
            async with self._db.read() as own:
                return await own.guilds.get(guild_id)

        return await self._memo.get(guild_id, read)

    async def update(self, guild_id: int, **changes: object) -> GuildSettings:
        clean = {name: validate_change(name, value) for name, value in changes.items()}
        self._memo.forget(guild_id)
        async with self._db.write() as uow:
            settings = await uow.guilds.update(guild_id, clean)
        self._memo.forget(guild_id)
        self._memo.put(guild_id, settings)
        return settings
