"""Per-server configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import GuildConfig
from bot.values import GuildSettings

# Every GuildSettings field but the key; bot/guilds/config.py says which value each may take.
CONFIG_FIELDS = frozenset(f.name for f in fields(GuildSettings)) - {"guild_id"}


def _ids(value: list[int] | None) -> tuple[int, ...] | None:
    return tuple(int(v) for v in value) if value is not None else None


def _to_value(row: GuildConfig) -> GuildSettings:
    return GuildSettings(
        guild_id=row.guild_id,
        allowed_channel_ids=_ids(row.allowed_channel_ids),
        creator_role_ids=_ids(row.creator_role_ids),
        session_role_ids=_ids(row.session_role_ids),
        reply_mode=row.reply_mode,
        ooc_prefix=row.ooc_prefix,
        max_reply_tokens=row.max_reply_tokens,
        sampler_preset=row.sampler_preset,
        user_cooldown_seconds=row.user_cooldown_seconds,
        nsfw_rule=row.nsfw_rule,
        max_characters=row.max_characters if row.max_characters is not None else 4,
        replies_per_message=row.replies_per_message if row.replies_per_message is not None else 2,
    )


class GuildConfigStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, guild_id: int) -> GuildSettings:
        row = await self._session.get(GuildConfig, guild_id)
        return _to_value(row) if row else GuildSettings(guild_id=guild_id)

    async def update(self, guild_id: int, changes: Mapping[str, object]) -> GuildSettings:
        unknown = set(changes) - CONFIG_FIELDS
        if unknown:
            raise ValueError(f"not configurable: {sorted(unknown)}")
        row = await self._session.get(GuildConfig, guild_id)
        if row is None:
            defaults = GuildSettings(guild_id=guild_id)
            row = GuildConfig(
                guild_id=guild_id,
                **{name: getattr(defaults, name) for name in CONFIG_FIELDS},
            )
            self._session.add(row)
        for name, value in changes.items():
            setattr(row, name, list(value) if isinstance(value, tuple) else value)
        await self._session.flush()
        return _to_value(row)
