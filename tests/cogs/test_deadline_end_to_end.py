"""Discord's 3-second deadline: every command answers (or says "thinking") in time, whatever
the model thread is doing; the slow part follows."""

from __future__ import annotations

import pytest

from bot.store import Database
from cogs import deadline
from testkit.discord_emulator import DiscordEmulator
from testkit.discord_emulator.interactions import DEFERRED_CHANNEL_MESSAGE
from testkit.harness import World, galatea
from tests.support.busy_backend import BusyBackend
from tests.support.waiting import until

IN_TIME = 2.9  # seconds: Discord's deadline is 3 from the interaction's creation


async def start_roleplay(emu: DiscordEmulator, world: World) -> None:
    created = await emu.invoke_command(
        "character create",
        {"name": "Aqua", "persona": "p"},
        user=world.alice,
        channel=world.channel,
    )
    assert "is ready" in (await created.response())["data"]["content"]
    started = await emu.invoke_command(
        "session start", {"character": "Aqua"}, user=world.alice, channel=world.channel
    )
    await started.followup()


async def test_status_answers_in_time_while_the_model_thread_counts_for_a_reply(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = BusyBackend()
    async with galatea(emu, database, backend) as bot:
        await start_roleplay(emu, world)
        backend.hold_counts = True
        await emu.send_message(world.channel, world.bob, "A new line to count.")
        await until(lambda: bot.roleplay.busy(world.channel.id), timeout=5)
        status = await emu.invoke_command("session status", user=world.alice, channel=world.channel)
        first = await status.response(timeout=IN_TIME)
        assert first["type"] == DEFERRED_CHANNEL_MESSAGE
        backend.thread_free.set()
        shown = await status.followup(timeout=5)
    assert shown.ephemeral and shown["embeds"][0]["title"] == "Roleplay with Aqua"


@pytest.mark.parametrize("command", ["session stop", "session pause"])
async def test_stop_and_pause_answer_in_time_while_a_reply_evaluates_its_prompt(
    emu: DiscordEmulator, world: World, database: Database, command: str
) -> None:
    backend = BusyBackend()
    async with galatea(emu, database, backend) as bot:
        await start_roleplay(emu, world)
        backend.hold_prompts = True
        await emu.send_message(world.channel, world.bob, "Say something long.")
        await until(lambda: backend.evaluating == 1, timeout=5)
        stopping = await emu.invoke_command(command, user=world.alice, channel=world.channel)
        first = await stopping.response(timeout=IN_TIME)
        assert first["type"] == DEFERRED_CHANNEL_MESSAGE
        backend.thread_free.set()
        said = await stopping.followup(timeout=5)
        view = await bot.core.engine.sessions.active(world.channel.id)
    assert not said.ephemeral
    if command == "session stop":
        assert "leaves the roleplay" in said.content and view is None
    else:
        assert "paused" in said.content and view is not None and view.session.paused
    assert not emu.requests_matching("POST", rf"^/interactions/{stopping.id}/")[0].status == 404


async def test_a_draft_that_would_outlast_its_token_asks_to_run_impersonate_again(
    emu: DiscordEmulator, world: World, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the model's queue held the draft for 14 of the token's 15 minutes.
    monkeypatch.setattr(deadline, "TOKEN_MARGIN", deadline.TOKEN_LIFETIME - 1.0)
    backend = BusyBackend()
    async with galatea(emu, database, backend):
        await start_roleplay(emu, world)
        backend.hold_queue = True
        asked = await emu.invoke_command("impersonate", user=world.bob, channel=world.channel)
        assert (await asked.response(timeout=IN_TIME))["type"] == DEFERRED_CHANNEL_MESSAGE
        told = await asked.followup(timeout=5)
        backend.thread_free.set()
    assert told.ephemeral and "run `/impersonate` again" in told.content
    assert not told.get("components")  # no "Post it" for a draft that never came
