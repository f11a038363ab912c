"""Every command that changes something refuses a caller without the right, with an ephemeral
sentence, and leaves the store exactly as it was."""

from __future__ import annotations

from typing import Any

import discord
import pytest
from sqlalchemy import select

from bot.store import Database
from bot.store.models import Base
from testkit.discord_emulator import DiscordEmulator
from testkit.harness import World, galatea
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.support.recording_backend import RecordingBackend

# Commands Carol (neither admin, nor Aqua's creator, nor the session's starter) may not use.
REFUSED: list[tuple[str, dict[str, Any]]] = [
    ("character edit", {"character": "Aqua", "nsfw": True, "form": False}),
    ("character delete", {"character": "Aqua"}),
    ("lore add", {"content": "Aqua hates rain.", "keys": "rain", "character": "Aqua"}),
    ("lore add", {"content": "Magic is real.", "keys": "magic", "world": "Realm"}),
    ("lore remove", {"entry": 1}),
    ("lore remove", {"world": "Realm"}),
    ("session stop", {}),
    ("session reset", {}),
    ("session add", {"character": "Aqua"}),
    ("session remove", {"character": "Aqua"}),
    ("session pause", {}),
    ("session resume", {}),
    ("session note", {"text": "Be grumpy."}),
    ("session world", {"name": "Realm"}),
    ("config reply-mode", {"mode": "mention"}),
    ("config ooc-prefix", {"prefix": "!!"}),
    ("config reply-length", {"tokens": 64}),
    ("config cooldown", {"seconds": 5}),
    ("config nsfw", {"rule": "allow"}),
    ("config characters", {"max": 2}),
    ("config replies", {"per_message": 1}),
]


async def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: what "nothing changed" means."""
    async with database.session() as session:
        return {
            table.name: sorted(
                (tuple(row) for row in await session.execute(select(table))), key=repr
            )
            for table in Base.metadata.sorted_tables
        }


@pytest.mark.parametrize(("command", "options"), REFUSED, ids=[f"{c} {o}" for c, o in REFUSED])
async def test_a_refused_caller_is_told_privately_and_nothing_changes(
    emu: DiscordEmulator,
    world: World,
    database: Database,
    command: str,
    options: dict[str, Any],
) -> None:
    async with galatea(emu, database, RecordingBackend()):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        for name, extra in (
            ("lore add", {"content": "Aqua loves tea.", "keys": "tea", "character": "Aqua"}),
            ("lore add", {"content": "A realm.", "keys": "realm", "world": "Realm"}),
        ):
            made = await emu.invoke_command(name, extra, user=world.alice, channel=world.channel)
            await made.response()
        before = await snapshot(database)

        refused = await emu.invoke_command(
            command, options, user=world.carol, channel=world.channel
        )
        answer = (await refused.response())["data"]

        assert answer["flags"] & 64, answer  # only Carol sees it
        text = answer["content"]
        assert text.rstrip().endswith("."), text
        assert any(w in text for w in ("admin", "Manage Server", "started", "creator")), text
        assert await snapshot(database) == before


async def test_only_the_config_group_is_hidden_from_members_by_default(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()):
        pass
    synced = {
        c["name"]: c for c in emu.requests_matching("PUT", r"/applications/\d+/commands$")[-1].json
    }
    manage_guild = discord.Permissions(manage_guild=True).value
    assert int(synced["config"]["default_member_permissions"]) == manage_guild
    # Members must reach these; each command checks ownership itself.
    for group in ("character", "session", "lore", "persona", "forget"):
        assert synced[group].get("default_member_permissions") is None, group


UNKNOWN: list[tuple[str, dict[str, Any]]] = [
    ("character show", {"character": "Nobody"}),
    ("character edit", {"character": "Nobody", "nsfw": True, "form": False}),
    ("character delete", {"character": "Nobody"}),
    ("session start", {"character": "Nobody"}),
    ("session stop", {}),
    ("session reset", {}),
    ("session note", {"text": "x"}),
    ("lore add", {"content": "x", "keys": "x", "character": "Nobody"}),
    ("lore remove", {"entry": 999}),
    ("lore remove", {"world": "Nowhere"}),
]


@pytest.mark.parametrize(("command", "options"), UNKNOWN, ids=[f"{c} {o}" for c, o in UNKNOWN])
async def test_unknown_characters_and_sessions_get_a_polite_answer_and_change_nothing(
    emu: DiscordEmulator,
    world: World,
    database: Database,
    command: str,
    options: dict[str, Any],
) -> None:
    async with galatea(emu, database, RecordingBackend()):
        await create_aqua(emu, world, greeting="")  # no session runs in the channel
        before = await snapshot(database)
        asked = await emu.invoke_command(command, options, user=world.alice, channel=world.channel)
        answer = (await asked.response())["data"]
        assert answer["flags"] & 64, answer
        assert "went wrong" not in answer["content"], answer["content"]
        assert answer["content"].rstrip().endswith((".", "?", ")")), answer["content"]
        assert await snapshot(database) == before
