"""Sharding in the emulator: each shard's session gets only its guilds' events, as on Discord."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest

from testkit.discord_emulator import DiscordEmulator
from testkit.discord_emulator.discord_py import running_bot
from testkit.discord_emulator.gateway import CLOSE_INVALID_SHARD, OP_IDENTIFY, shard_of

pytestmark = pytest.mark.timeout(30)


class ShardedClient(discord.AutoShardedClient):
    def __init__(self, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents, **options)
        self.seen: list[tuple[int | None, str]] = []  # (shard id, content) of each message

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None  # discord.py waits 5 s between shards; nothing to wait for here

    async def on_message(self, message: discord.Message) -> None:
        shard = message.guild.shard_id if message.guild is not None else None
        self.seen.append((shard, message.content))


async def test_guilds_are_placed_on_the_shard_asked_for() -> None:
    async with DiscordEmulator() as emu:
        for shard in (0, 1, 2, 1):
            guild = emu.add_guild(f"guild on {shard}", shard=(shard, 3))
            assert shard_of(guild.id, 3) == shard
        ids = [g.id for g in emu.world.guilds.values()]
        assert ids == sorted(ids)  # still increasing snowflakes


async def test_each_shard_gets_only_its_guilds() -> None:
    async with DiscordEmulator(shards=2) as emu:
        guilds = [emu.add_guild(f"g{shard}", shard=(shard, 2)) for shard in (0, 1)]
        channels = [emu.add_text_channel(g, "talk") for g in guilds]
        members = [emu.add_member(g, f"user{i}") for i, g in enumerate(guilds)]
        client = ShardedClient()  # no shard_count: it asks GET /gateway/bot
        async with running_bot(client, emu) as bot:
            assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
            identifies = emu.gateway_frames(OP_IDENTIFY)
            assert sorted(tuple(f.d["shard"]) for f in identifies) == [(0, 2), (1, 2)]
            for session in emu.gateway.sessions.values():
                assert session.shard is not None
                ready = next(f for f in session.buffer if f["t"] == "READY")
                assert ready["d"]["shard"] == list(session.shard)
                assert [int(g["id"]) for g in ready["d"]["guilds"]] == [guilds[session.shard[0]].id]
            assert {g.id: g.shard_id for g in bot.guilds} == {guilds[0].id: 0, guilds[1].id: 1}

            for index in (0, 1):
                await emu.send_message(channels[index], members[index], f"hello {index}")
            for _ in range(100):
                if len(bot.seen) == 2:
                    break
                await asyncio.sleep(0.05)
            assert sorted(bot.seen, key=str) == [(0, "hello 0"), (1, "hello 1")]
            creates = {
                session.shard: [
                    f["d"]["content"] for f in session.buffer if f["t"] == "MESSAGE_CREATE"
                ]
                for session in emu.gateway.sessions.values()
            }
            assert creates == {(0, 2): ["hello 0"], (1, 2): ["hello 1"]}


async def test_a_shard_id_past_the_count_is_refused() -> None:
    async with DiscordEmulator() as emu:
        client = ShardedClient(shard_count=2, shard_ids=[2])
        with pytest.raises(discord.ConnectionClosed) as refused:
            async with running_bot(client, emu, timeout=5):
                pass
        assert refused.value.code == CLOSE_INVALID_SHARD
