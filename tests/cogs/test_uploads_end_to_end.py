"""Uploads within the limit each interaction announces (``attachment_size_limit``; Reference >
Uploading Files). The emulation answers 413/40005 past it, as Discord does, so both of these
lost the file before: a V3 PNG card (the card twice, base64) and a long session's export."""

from __future__ import annotations

import gzip
import json
import random
import string

from bot.store import Database
from testkit.discord_emulator import DiscordEmulator, StoredFile
from testkit.harness import World, galatea
from tests.cogs.test_cards_end_to_end import import_card
from tests.cogs.test_embeds_end_to_end import long_card
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.support.recording_backend import RecordingBackend

KIB = 1024


async def test_a_png_card_over_the_upload_limit_comes_as_json_instead(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        await import_card(emu, world, long_card())
        found = await bot.core.characters.find(world.guild.id, "Longwind")
        png, _ = await bot.core.characters.export_card(found.id, "png", 3)
        card, _ = await bot.core.characters.export_card(found.id, "json", 3)
        limit = len(card) + KIB  # the JSON fits, the PNG (the card twice, base64) does not
        assert len(png) > limit
        world.guild.attachment_size_limit = limit
        record = await emu.invoke_command(
            "character export",
            {"character": "Longwind", "format": "png", "version": 3},
            user=world.carol,
            channel=world.channel,
        )
        await record.response()
        answer = await record.followup()
    assert "upload limit" in answer.content
    [file] = answer.files
    assert file.filename == "Longwind.json" and file.size <= limit
    assert json.loads(file.data)["data"]["name"] == "Longwind"


def _rejoined(files: list[StoredFile], suffix: str) -> bytes:
    """One export file back from what was uploaded: as is, gzip-compressed, or in parts."""
    mine = sorted(
        (f for f in files if suffix in f.filename),
        key=lambda f: (
            int(f.filename.split(".part")[1].split("of")[0]) if ".part" in f.filename else 0
        ),
    )
    data = b"".join(f.data for f in mine)
    return gzip.decompress(data) if mine[0].filename.endswith(".gz") else data


async def test_a_long_sessions_export_fits_the_upload_limit(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    world.guild.attachment_size_limit = 16 * KIB
    rng = random.Random(7)  # text that does not compress below the limit: it comes in parts
    lines = ["".join(rng.choices(string.ascii_letters, k=190)) for _ in range(400)]
    async with galatea(emu, database, RecordingBackend()) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        view = await bot.core.engine.sessions.active(world.channel.id)
        assert view is not None
        for line in lines:
            await bot.core.engine.history.add_human_message(
                view.session.id, speaker="Bob", content=line
            )
        record = await emu.invoke_command(
            "session export", {}, user=world.bob, channel=world.channel
        )
        await record.response()
        first = await record.followup()
        answers = [first, await record.followup(1)]  # over ten parts: a second message
    files = [f for a in answers for f in a.files]
    assert "upload limit" in first.content
    assert all(f.size <= 16 * KIB for f in files) and all(len(a.files) <= 10 for a in answers)
    text = _rejoined(files, ".txt").decode()
    assert all(f"Bob: {line}" in text for line in lines)
    assert len(json.loads(_rejoined(files, ".json"))["messages"]) == len(lines)
