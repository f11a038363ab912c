"""Fixtures for the emulator's own tests: an emulator with a small world and a real bot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from testkit.discord_emulator import DiscordEmulator
from testkit.discord_emulator.discord_py import running_bot
from tests.discord_emulator.sample_bot import EmuBot, Scene

BOT_READY_TIMEOUT = 10.0


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        yield emulator
    assert not emulator.internal_errors, emulator.internal_errors


@pytest.fixture
def scene(emu: DiscordEmulator) -> Scene:
    guild = emu.add_guild("Tavern")
    channel = emu.add_text_channel(guild, "roleplay")
    alice = emu.add_member(guild, "alice", nick="Alice the Bold")
    bob = emu.add_member(guild, emu.add_user("bob", global_name="Bobby"))
    return Scene(guild, channel, alice, bob)


@pytest.fixture
async def bot(emu: DiscordEmulator, scene: Scene) -> AsyncIterator[EmuBot]:
    async with running_bot(EmuBot(), emu, timeout=BOT_READY_TIMEOUT) as client:
        assert isinstance(client, EmuBot)
        yield client
