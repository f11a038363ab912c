"""Secrets never reach the logs, even at DEBUG, through a whole conversation."""

from __future__ import annotations

import logging

import pytest

from bot.store import Database
from testkit.discord_emulator import DiscordEmulator
from testkit.harness import World, galatea, wait_for_reply
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.support.failing_backend import refusing_backend

API_KEY = "sk-galatea-test-3f9a1c0e7b2d"


async def test_the_token_and_api_key_never_appear_in_debug_logs(
    emu: DiscordEmulator, world: World, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend = refusing_backend(replies=["Hi."])
    async with galatea(emu, database, backend, INFERENCE_API_KEY=API_KEY, LOG_LEVEL="DEBUG"):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Hello?")  # fails: an error logged
        await emu.wait_for_message(world.channel, lambda m: m.content.startswith("⚠️"))
        await emu.send_message(world.channel, world.alice, "Again?")
        await wait_for_reply(emu, world.channel, "Aqua")
    assert len(caplog.records) > 20  # discord.py's own DEBUG lines are in there too
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert emu.token not in logged
    assert API_KEY not in logged
