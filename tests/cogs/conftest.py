"""Fixtures for the end-to-end Discord tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from testkit.discord_emulator import DiscordEmulator
from testkit.harness import World, build_world


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        yield emulator
    assert not emulator.internal_errors, emulator.internal_errors


@pytest.fixture
def world(emu: DiscordEmulator) -> World:
    return build_world(emu)
