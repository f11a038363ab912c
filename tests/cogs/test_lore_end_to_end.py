"""World info files through Discord: /lore import of a SillyTavern world, /lore export back."""

from __future__ import annotations

import json

from bot.lore.service import BookRef
from bot.store import Database
from testkit.discord_emulator import DiscordEmulator, StoredMessage, Upload
from testkit.harness import World, galatea, wait_for_reply
from tests.cards.builders import to_json, v2_document
from tests.lore.worlds import CHUB_LOREBOOK, ST_WORLD, to_bytes
from tests.support.recording_backend import RecordingBackend

EPHEMERAL = 64


async def lore_import(
    emu: DiscordEmulator, world: World, upload: Upload, user: object, name: str | None = None
) -> StoredMessage:
    options: dict[str, object] = {"file": upload}
    if name is not None:
        options["world"] = name
    record = await emu.invoke_command("lore import", options, user=user, channel=world.channel)
    await record.response()
    answer = await record.followup()
    assert answer.flags & EPHEMERAL
    return answer


async def test_a_sillytavern_world_imported_and_exported_through_discord_is_the_same_file(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    upload = Upload("Belzerg_lore.json", to_bytes(ST_WORLD))
    async with galatea(emu, database, RecordingBackend()) as bot:
        answer = await lore_import(emu, world, upload, world.alice)
        assert "**Belzerg lore** was imported with 3 entries" in answer.content
        book = await bot.core.lore.book(world.guild.id, BookRef(world="Belzerg lore"))
        assert book is not None and len(book.entry_ids) == 3
        record = await emu.invoke_command(
            "lore export", {"world": "belzerg lore"}, user=world.carol, channel=world.channel
        )
        await record.response()
        exported = await record.followup()
    assert exported.flags & EPHEMERAL and len(exported.files) == 1
    assert exported.files[0].filename == "Belzerg_lore.json"
    assert json.loads(exported.files[0].data) == ST_WORLD


async def test_a_chub_lorebook_imports_under_the_name_given(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    upload = Upload("book.json", to_bytes(CHUB_LOREBOOK))
    async with galatea(emu, database, RecordingBackend()) as bot:
        answer = await lore_import(emu, world, upload, world.alice, "Axel")
        assert "**Axel** was imported with 2 entries" in answer.content
        clash = await lore_import(emu, world, upload, world.alice, "axel")
        assert "already exists" in clash.content
        worlds = await bot.core.lore.worlds(world.guild.id)
    assert [(w.name, w.entries) for w in worlds] == [("Axel", 2)]


async def test_members_and_bad_files_get_a_private_sentence_and_nothing_is_stored(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        refused = await emu.invoke_command(
            "lore import",
            {"file": Upload("w.json", to_bytes(ST_WORLD))},
            user=world.bob,
            channel=world.channel,
        )
        body = (await refused.response())["data"]
        assert body["flags"] & EPHEMERAL and "Manage Server" in body["content"]
        broken = await lore_import(emu, world, Upload("w.json", b'{"entries": '), world.alice)
        assert "not valid JSON" in broken.content
        card = await lore_import(
            emu, world, Upload("c.json", b'{"spec": "chara_card_v2", "data": {}}'), world.alice
        )
        assert "/character import" in card.content
        missing = await emu.invoke_command(
            "lore export", {"world": "Nowhere"}, user=world.bob, channel=world.channel
        )
        await missing.response()
        assert "no world named" in (await missing.followup()).content
        assert await bot.core.lore.worlds(world.guild.id) == []


async def test_an_imported_worlds_regex_key_brings_its_entry_into_the_prompt(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Indeed."])
    async with galatea(emu, database, backend):
        card = Upload("lyra.json", to_json(v2_document(name="Lyra")))
        imported = await emu.invoke_command(
            "character import", {"card": card}, user=world.bob, channel=world.channel
        )
        await imported.response()
        await imported.followup()
        await lore_import(emu, world, Upload("Belzerg.json", to_bytes(ST_WORLD)), world.alice)
        start = await emu.invoke_command(
            "session start", {"character": "Lyra"}, user=world.alice, channel=world.channel
        )
        await start.response()
        greeting = await wait_for_reply(emu, world.channel, "Lyra")
        attach = await emu.invoke_command(
            "session world", {"name": "Belzerg"}, user=world.alice, channel=world.channel
        )
        await attach.response()
        await emu.send_message(world.channel, world.bob, "Look, a DRAKE over the hills!")
        await wait_for_reply(emu, world.channel, "Lyra", after=greeting.id)
    prompt = backend.prompts[-1]
    assert "Dragons breathe fire." in prompt  # the key /dra(gon|ke)s?/i
    assert "Two moons." not in prompt  # a disabled entry


async def test_lore_add_refuses_a_regex_key_re2_cannot_run_politely(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        record = await emu.invoke_command(
            "lore add",
            {"world": "Axel", "keys": "/(?<=sir )knight/i", "content": "Knights."},
            user=world.alice,
            channel=world.channel,
        )
        body = (await record.response())["data"]
        assert body["flags"] & EPHEMERAL
        assert "regular expression that Galatea cannot run" in body["content"]
        assert await bot.core.lore.worlds(world.guild.id) == []
