"""The emulator fixture for the load test (named ``emu``, so the test runs on SQLite unless
``--all-on-postgresql`` is given, like the other end-to-end tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from testkit.discord_emulator import DiscordEmulator


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        yield emulator
    assert not emulator.internal_errors, emulator.internal_errors
