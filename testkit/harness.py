"""Galatea's real bot, with its real core on a real SQLite file, against the Discord emulator."""

# Every wait here is bounded by an explicit timeout.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.app import Core, assemble
from bot.inference.base import Backend
from bot.settings import Settings
from bot.store import Database
from cogs.client import GalateaBot, GalateaShardedBot, configure_endpoints, shard_options
from testkit.discord_emulator import (
    Channel,
    DiscordEmulator,
    Guild,
    Member,
    StoredMessage,
    discord_py_globals_restored,
    permissions,
)

READY_TIMEOUT = 10.0


@dataclass
class World:
    """A server with an admin (Alice), a member (Bob), a third member (Carol), a channel."""

    guild: Guild
    channel: Channel
    alice: Member
    bob: Member
    carol: Member


def build_world(
    emu: DiscordEmulator, name: str = "Tavern", *, shard: tuple[int, int] | None = None
) -> World:
    """The world; ``shard=(id, count)`` puts the server on that shard."""
    guild = emu.add_guild(name, shard=shard)
    admins = emu.add_role(guild, "Admins", permissions=permissions.MANAGE_GUILD)
    channel = emu.add_text_channel(guild, "roleplay")
    alice = emu.add_member(guild, "alice", nick="Alice", roles=[admins])
    bob = emu.add_member(guild, "bob", nick="Bob")
    carol = emu.add_member(guild, "carol", nick="Carol")
    return World(guild, channel, alice, bob, carol)


def settings_for(emu: DiscordEmulator, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "DISCORD_TOKEN": emu.token,
        "DISCORD_API_BASE": emu.api_url,
        "MODEL": "test-model",
        "MAX_NEW_TOKENS": 40,
    }
    values.update(overrides)
    return Settings(**values)


class TestBot(GalateaBot):
    runner: asyncio.Task[None] | None = None  # the task running ``start`` (see ``freeze``)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None  # discord.py waits 5 s before re-identifying; nothing to wait for here


class TestShardedBot(TestBot, GalateaShardedBot):
    """The sharded bot (SHARD_COUNT in the settings), identifying its shards without waits."""


@asynccontextmanager
async def galatea(
    emu: DiscordEmulator, database: Database, backend: Backend, **settings: Any
) -> AsyncIterator[GalateaBot]:
    """Start the real bot (endpoints from settings, cogs, command sync) and wait for READY."""
    core: Core = assemble(settings_for(emu, **settings), database, backend)
    with discord_py_globals_restored():
        await configure_endpoints(core.settings)
        sharding = shard_options(core.settings)
        bot = (TestShardedBot if sharding else TestBot)(core, guild_ready_timeout=0.1, **sharding)
        runner = asyncio.create_task(bot.start(core.settings.DISCORD_TOKEN))
        bot.runner = runner
        ready = asyncio.create_task(bot.wait_until_ready())
        try:
            done, _ = await asyncio.wait(
                {runner, ready}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
            if runner in done:
                runner.result()
            assert ready in done, "the bot did not become ready"
            yield bot
        finally:
            ready.cancel()
            await asyncio.wait_for(bot.close(), READY_TIMEOUT)
            await asyncio.wait_for(asyncio.gather(runner, return_exceptions=True), READY_TIMEOUT)


async def freeze(bot: GalateaBot) -> None:
    """Stop an unsharded bot reading its gateway, as a hung or killed process would: nothing
    is closed or released (the harness still closes it at the end)."""
    assert isinstance(bot, TestBot) and bot.runner is not None
    assert bot.shard_count is None, "a sharded bot reads its gateway in tasks of its own"
    bot.runner.cancel()
    await asyncio.wait_for(asyncio.gather(bot.runner, return_exceptions=True), READY_TIMEOUT)


def is_character_message(name: str) -> Any:
    def check(message: StoredMessage) -> bool:
        return message.webhook_id is not None and message.author_name == name

    return check


async def wait_for_reply(
    emu: DiscordEmulator, channel: Channel, name: str, *, after: int = 0, timeout: float = 10.0
) -> StoredMessage:
    """The character's next message through the webhook, once its buttons are on (finished)."""

    def done(message: StoredMessage) -> bool:
        return (
            is_character_message(name)(message)
            and message.id > after
            and bool(message.get("components"))
        )

    return await emu.wait_for_message(channel, done, timeout=timeout)
