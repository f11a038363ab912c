"""Several bot processes on one database: shards split the servers, and a channel lease makes
sure two copies of the bot (a rolling deploy) never answer one message twice."""

from __future__ import annotations

import asyncio
import contextlib

import discord

from bot.app import assemble
from bot.settings import Settings
from bot.store import Database
from bot.values import Role
from cogs.client import GalateaBot, GalateaShardedBot, build_bot, configure_endpoints
from testkit.discord_emulator import DiscordEmulator, discord_py_globals_restored
from testkit.discord_emulator.gateway import OP_IDENTIFY, shard_of
from testkit.harness import (
    World,
    build_world,
    freeze,
    galatea,
    is_character_message,
    wait_for_reply,
)
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.support.recording_backend import RecordingBackend

LEASE_SECONDS = 3.0  # long enough that a slow machine still sees the hung copy hold it


def aqua_lines(emu: DiscordEmulator, world: World) -> list[str]:
    """What Aqua posted in the world's channel, through the webhook."""
    return [m.content for m in emu.messages_in(world.channel) if is_character_message("Aqua")(m)]


async def stored(bot: GalateaBot, world: World) -> tuple[list[str], list[str]]:
    """The session's history: (human lines, character lines)."""
    view = await bot.core.engine.sessions.active(world.channel.id)
    assert view is not None
    history = await bot.core.engine.history.recent(view.session.id)
    humans = [m.content for m in history if m.role is Role.HUMAN]
    return humans, [m.content for m in history if m.role is Role.CHARACTER]


def background_tasks(bot: GalateaBot) -> set[str]:
    return {task.get_name() for task in bot._background}


async def test_the_bot_is_sharded_only_when_shard_count_is_set(database: Database) -> None:
    plain = build_bot(assemble(Settings(MODEL="x"), database, RecordingBackend()))
    sharded = build_bot(
        assemble(Settings(MODEL="x", SHARD_COUNT=4, SHARD_IDS="1,3"), database, RecordingBackend())
    )
    # Never started: nothing to close (discord.py opens its HTTP session at login).
    assert not isinstance(plain, discord.AutoShardedClient) and plain.shard_count is None
    assert isinstance(sharded, GalateaShardedBot)
    assert (sharded.shard_count, sharded.shard_ids) == (4, [1, 3])


async def test_two_shards_each_answer_their_own_server(
    emu: DiscordEmulator, database: Database
) -> None:
    worlds = [build_world(emu, f"Tavern {shard}", shard=(shard, 2)) for shard in (0, 1)]
    assert [shard_of(w.guild.id, 2) for w in worlds] == [0, 1]
    backends = [RecordingBackend(replies=[f"Shard {shard} here."]) for shard in (0, 1)]
    common = {"SHARD_COUNT": 2, "HISTORY_RETENTION_DAYS": 30, "STREAM_REPLIES": False}
    async with (
        galatea(emu, database, backends[0], SHARD_IDS="0", **common) as first,
        galatea(emu, database, backends[1], SHARD_IDS="1", **common) as second,
    ):
        bots = [first, second]
        for shard, bot in enumerate(bots):
            assert bot.shard_count == 2 and list(bot.shards) == [shard]
            assert [g.id for g in bot.guilds] == [worlds[shard].guild.id]
        assert sorted(tuple(f.d["shard"]) for f in emu.gateway_frames(OP_IDENTIFY)) == [
            (0, 2),
            (1, 2),
        ]
        # Once per deployment: only the process with shard 0 prunes old history.
        assert "history-retention" in background_tasks(first)
        assert "history-retention" not in background_tasks(second)

        for world in worlds:  # slash commands (and their modals) on both shards
            await create_aqua(emu, world, greeting="")
            await start_session(emu, world)
        for shard, world in enumerate(worlds):
            await emu.send_message(world.channel, world.bob, f"Hello shard {shard}!")
            reply = await wait_for_reply(emu, world.channel, "Aqua")
            assert reply.content == f"Shard {shard} here."
        await asyncio.wait_for(asyncio.gather(*(b.roleplay.idle() for b in bots)), 5)

    assert [len(b.calls) for b in backends] == [1, 1]
    for shard, world in enumerate(worlds):
        assert aqua_lines(emu, world) == [f"Shard {shard} here."]
        humans, characters = await stored(first, world)
        assert (humans, characters) == ([f"Hello shard {shard}!"], [f"Shard {shard} here."])


async def test_two_copies_of_the_bot_answer_each_message_once_and_hand_over(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    old, new = RecordingBackend(replies=["Old copy."]), RecordingBackend(replies=["New copy."])
    settings = {"CHANNEL_LEASE_SECONDS": LEASE_SECONDS, "STREAM_REPLIES": False}
    async with galatea(emu, database, old, **settings) as first:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.bob, "Message 0")
        last = (await wait_for_reply(emu, world.channel, "Aqua")).id
        # A rolling deploy: the new copy connects while the old one still runs.
        async with galatea(emu, database, new, **settings) as second:
            for index in (1, 2):
                await emu.send_message(world.channel, world.bob, f"Message {index}")
                last = (await wait_for_reply(emu, world.channel, "Aqua", after=last)).id
            await asyncio.wait_for(second.roleplay.idle(), 5)
            assert aqua_lines(emu, world) == ["Old copy."] * 3
            assert (len(old.calls), len(new.calls)) == (3, 0)

            # The old copy hangs (no clean shutdown: its lease stays until it runs out).
            await freeze(first)
            await emu.send_message(world.channel, world.bob, "Anyone there?")
            await asyncio.sleep(LEASE_SECONDS + 0.3)
            await emu.send_message(world.channel, world.bob, "Hello again.")
            taken_over = await wait_for_reply(emu, world.channel, "Aqua", after=last)
            assert taken_over.content == "New copy."
            await asyncio.wait_for(second.roleplay.idle(), 5)
            humans, characters = await stored(second, world)

    assert aqua_lines(emu, world) == ["Old copy."] * 3 + ["New copy."]
    assert characters == ["Old copy."] * 3 + ["New copy."]
    # Within the hung copy's lease the other copy keeps the message but does not answer it; the
    # answer after the handover covers it (it is in the prompt).
    assert humans == ["Message 0", "Message 1", "Message 2", "Anyone there?", "Hello again."]
    assert "Anyone there?" in new.prompts[-1]
    assert (len(old.calls), len(new.calls)) == (3, 1)


async def test_a_clean_shutdown_hands_channels_over_at_once(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    old, new = RecordingBackend(replies=["Old copy."]), RecordingBackend(replies=["New copy."])
    settings = {"CHANNEL_LEASE_SECONDS": 600, "STREAM_REPLIES": False}  # no expiry in this test
    with discord_py_globals_restored():
        async with contextlib.AsyncExitStack() as old_copy:
            first = await old_copy.enter_async_context(galatea(emu, database, old, **settings))
            await create_aqua(emu, world, greeting="")
            await start_session(emu, world)
            await emu.send_message(world.channel, world.bob, "First.")
            first_reply = await wait_for_reply(emu, world.channel, "Aqua")
            await asyncio.wait_for(first.roleplay.idle(), 5)
            async with galatea(emu, database, new, **settings) as second:
                await old_copy.aclose()  # the old copy stops cleanly, giving its channels back
                # Leaving the old copy's harness put discord.py's globals back: point them again.
                await configure_endpoints(second.core.settings)
                await emu.send_message(world.channel, world.bob, "Second.")
                second_reply = await wait_for_reply(
                    emu, world.channel, "Aqua", after=first_reply.id
                )
                humans, characters = await stored(second, world)
    assert (first_reply.content, second_reply.content) == ("Old copy.", "New copy.")
    assert humans == ["First.", "Second."] and characters == ["Old copy.", "New copy."]
    assert (len(old.calls), len(new.calls)) == (1, 1)
