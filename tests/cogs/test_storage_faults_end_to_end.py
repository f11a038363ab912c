"""Storage faults with the real bot against the local Discord: another connection holds the
SQLite write lock past the busy wait. Members are told once in the channel, commands get an
ephemeral sentence, and the bot carries on by itself once the lock is gone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.roleplay import channel as channel_module
from bot.store import Database, sqlite_driver
from bot.values import Role
from testkit.discord_emulator import DiscordEmulator
from testkit.harness import World, wait_for_reply
from tests.cogs.test_faults_end_to_end import history, is_warning, playing_aqua
from tests.support.recording_backend import RecordingBackend
from tests.support.waiting import until

FLAG_EPHEMERAL = 1 << 6


def _file_of(database: Database) -> Path:
    return Path(database.url.split(":///", 1)[1])


async def test_a_locked_database_is_told_once_commands_answer_and_it_recovers(
    emu: DiscordEmulator,
    world: World,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(sqlite_driver, "BUSY_TIMEOUT_SECONDS", 0.3)
    monkeypatch.setattr(channel_module, "STORAGE_RETRY_DELAYS", (0.05,))
    backend = RecordingBackend(replies=["Welcome back."])
    async with playing_aqua(emu, world, database, backend) as bot:
        other = sqlite3.connect(_file_of(database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process, writing for too long
        try:
            await emu.send_message(world.channel, world.alice, "Lost in the fog?")
            warning = await emu.wait_for_message(world.channel, is_warning)
            assert "can't save messages right now" in warning.content
            command = await emu.invoke_command(
                "session note", {"text": "Fog everywhere."}, user=world.alice, channel=world.channel
            )
            answer = await command.response()
            assert answer["data"]["flags"] & FLAG_EPHEMERAL
            assert "can't reach my storage" in answer["data"]["content"]
        finally:
            other.execute("ROLLBACK")
            other.close()
        await emu.send_message(world.channel, world.alice, "Is it clear now?")
        reply = await wait_for_reply(emu, world.channel, "Aqua")
        assert reply.content == "Welcome back."
        # One note in the channel (repeats within a minute are held back: see
        # tests/roleplay/test_storage_faults.py); the lost message is not in the story.
        assert sum(map(is_warning, emu.messages_in(world.channel))) == 1
        assert await history(bot.core, world.channel.id) == [
            (Role.HUMAN, "Is it clear now?"),
            (Role.CHARACTER, "Welcome back."),
        ]
    await until(lambda: "Storage is back" in caplog.text, timeout=5.0)
    assert caplog.text.count("Storage unavailable:") == 1  # the operator's one line
