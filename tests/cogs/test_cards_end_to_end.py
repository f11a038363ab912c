"""Character cards and lorebooks through Discord: import, export, greetings, /lore, worlds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.cards import CharacterCard, parse_card
from bot.cards.entry_ids import for_sillytavern
from bot.lore.service import BookRef
from bot.store import Database
from testkit.discord_emulator import DiscordEmulator, StoredMessage, Upload
from testkit.harness import World, galatea, wait_for_reply
from tests.cards.builders import b64, image_png, to_json, v2_document, v3_document
from tests.support.recording_backend import RecordingBackend

EPHEMERAL = 64


def comparable(card: CharacterCard) -> dict[str, Any]:
    """A card's content: not the image (re-encoded on import) nor the spec it was read from;
    its lorebook as every export writes it (unique ids, SillyTavern's title and case fields)."""
    if card.character_book is not None:
        card = card.model_copy(update={"character_book": for_sillytavern(card.character_book)})
    return card.model_dump(exclude={"avatar_png", "spec_version"})


def png_card(document: dict[str, Any], *keywords: str) -> bytes:
    chunks = [(keyword, b64(document), "tEXt") for keyword in keywords or ("chara",)]
    return image_png(size=(96, 128), chunks=chunks)  # type: ignore[arg-type]


async def import_card(
    emu: DiscordEmulator, world: World, upload: Upload, **options: Any
) -> StoredMessage:
    """``/character import``; returns the (ephemeral) answer."""
    record = await emu.invoke_command(
        "character import", {"card": upload, **options}, user=world.bob, channel=world.channel
    )
    await record.response()
    answer = await record.followup()
    assert answer.flags & EPHEMERAL
    return answer


async def export_card(
    emu: DiscordEmulator, world: World, name: str, fmt: str, version: int
) -> bytes:
    record = await emu.invoke_command(
        "character export",
        {"character": name, "format": fmt, "version": version},
        user=world.carol,
        channel=world.channel,
    )
    await record.response()
    answer = await record.followup()
    assert answer.flags & EPHEMERAL and len(answer.files) == 1
    assert answer.files[0].filename == f"{name}.{fmt}"
    return answer.files[0].data


@pytest.mark.parametrize(
    ("upload", "fmt", "version"),
    [
        (Upload("lyra.png", png_card(v3_document(name="Lyra"), "chara", "ccv3")), "png", 3),
        (Upload("lyra.png", png_card(v2_document(name="Lyra"))), "png", 2),
        (Upload("lyra.json", to_json(v2_document(name="Lyra"))), "json", 2),
        (Upload("lyra.json", to_json(v3_document(name="Lyra"))), "json", 3),
    ],
    ids=["v3-png", "v2-png", "v2-json", "v3-json"],
)
async def test_a_card_imported_and_exported_through_discord_is_the_same_card(
    emu: DiscordEmulator, world: World, database: Database, upload: Upload, fmt: str, version: int
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        answer = await import_card(emu, world, upload)
        assert "**Lyra** was imported with 3 greetings" in answer.content
        assert "a lorebook of 2 entries" in answer.content
        exported = await export_card(emu, world, "Lyra", fmt, version)
        character = await bot.core.characters.find(world.guild.id, "Lyra")
    assert comparable(parse_card(exported)) == comparable(parse_card(upload.data))
    if fmt == "json":
        assert json.loads(exported)["spec_version"] == f"{version}.0"
    if upload.filename.endswith(".png"):
        assert character.has_avatar  # the card's image is the avatar
    assert character.owner_id == world.bob.id


async def test_a_bad_card_gets_a_private_answer_naming_the_problem_and_stores_nothing(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        plain = await import_card(emu, world, Upload("photo.png", image_png()))
        assert "no character card in it" in plain.content
        jpeg = await import_card(emu, world, Upload("photo.jpg", b"\xff\xd8\xff\xe0 jpeg"))
        assert "JPEG" in jpeg.content
        broken = await import_card(emu, world, Upload("c.json", b'{"spec": "chara_card_v2"'))
        assert "JSON" in broken.content
        assert await bot.core.characters.count(world.guild.id) == 0


async def test_a_name_clash_suggests_the_name_option_which_then_works(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    card = Upload("lyra.json", to_json(v2_document(name="Lyra")))
    async with galatea(emu, database, RecordingBackend()) as bot:
        await import_card(emu, world, card)
        clash = await import_card(emu, world, card)
        assert "already exists" in clash.content and "`name`" in clash.content
        renamed = await import_card(emu, world, card, name="Lyra Two", nsfw=True)
        assert "**Lyra Two** was imported" in renamed.content
        second = await bot.core.characters.find(world.guild.id, "Lyra Two")
    assert second.nsfw


async def test_alternate_greetings_can_be_browsed_before_anyone_answers(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Halt yourself."])
    async with galatea(emu, database, backend) as bot:
        await import_card(emu, world, Upload("lyra.json", to_json(v2_document(name="Lyra"))))
        start = await emu.invoke_command(
            "session start", {"character": "Lyra"}, user=world.alice, channel=world.channel
        )
        await start.response()
        greeting = await wait_for_reply(emu, world.channel, "Lyra")
        assert greeting.content == "*salutes* Halt, Alice."
        session = (await bot.core.engine.sessions.active(world.channel.id)).session.id  # type: ignore[union-attr]
        labels = [c["label"] for row in greeting["components"] for c in row["components"]]
        assert labels[:3] == ["◀", "1/3", "▶"]

        click = await emu.click_button(greeting, f"galatea:reply:next:{session}", world.bob)
        await click.response()
        await emu.wait_for_message(
            world.channel, lambda m: m.id == greeting.id and m.content == "*waves*"
        )
        await emu.send_message(world.channel, world.bob, "Hello Lyra.")
        await wait_for_reply(emu, world.channel, "Lyra", after=greeting.id)
    assert "Lyra: *waves*\nBob: Hello Lyra." in backend.prompts[-1]


async def test_lore_added_in_discord_reaches_the_prompt_through_a_world(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Indeed."])
    async with galatea(emu, database, backend):
        await import_card(emu, world, Upload("lyra.json", to_json(v2_document(name="Lyra"))))
        refused = await emu.invoke_command(
            "lore add",
            {"world": "Axel", "keys": "guild", "content": "x"},
            user=world.bob,
            channel=world.channel,
        )
        assert "Manage Server" in (await refused.response())["data"]["content"]
        added = await emu.invoke_command(
            "lore add",
            {
                "world": "Axel",
                "keys": "guild, adventurers",
                "content": "The Axel guild pays in {{char}}'s coin.",
                "position": "after",
                "title": "The guild",
            },
            user=world.alice,
            channel=world.channel,
        )
        body = (await added.response())["data"]
        assert body["flags"] & EPHEMERAL and "Added lore entry" in body["content"]
        own = await emu.invoke_command(
            "lore add",
            {"character": "Lyra", "keys": "sword", "content": "Lyra's sword is named Dawn."},
            user=world.bob,
            channel=world.channel,
        )
        assert "Lyra's lorebook" in (await own.response())["data"]["content"]

        listed = await emu.invoke_command(
            "lore list", {"character": "Lyra"}, user=world.carol, channel=world.channel
        )
        description = (await listed.response())["data"]["embeds"][0]["description"]
        assert "castle, keep" in description and "sword" in description
        worlds = await emu.invoke_command("lore list", {}, user=world.carol, channel=world.channel)
        assert (
            "**Axel**: 1 entries" in (await worlds.response())["data"]["embeds"][0]["description"]
        )

        start = await emu.invoke_command(
            "session start", {"character": "Lyra"}, user=world.alice, channel=world.channel
        )
        await start.response()
        greeting = await wait_for_reply(emu, world.channel, "Lyra")
        attach = await emu.invoke_command(
            "session world", {"name": "axel"}, user=world.alice, channel=world.channel
        )
        assert "**Axel** now shapes" in (await attach.response())["data"]["content"]
        note = await emu.invoke_command(
            "session note",
            {"text": "Lyra distrusts the guild.", "depth": 0},
            user=world.alice,
            channel=world.channel,
        )
        await note.response()
        await emu.send_message(world.channel, world.bob, "Shall we visit the guild? Bring a sword.")
        await wait_for_reply(emu, world.channel, "Lyra", after=greeting.id)
    prompt = backend.prompts[-1]
    assert "\nThe Axel guild pays in Lyra's coin.\n<START>" in prompt  # after the persona
    assert "Lyra's sword is named Dawn.\n" in prompt
    assert "Bring a sword.\n[Lyra distrusts the guild.]\n" in prompt


async def test_lore_entries_are_shown_and_removed_by_their_number(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        added = await emu.invoke_command(
            "lore add",
            {
                "world": "Axel",
                "keys": "moon",
                "content": "Two moons.",
                "secondary_keys": "night",
                "logic": "not any",
            },
            user=world.alice,
            channel=world.channel,
        )
        await added.response()
        book = await bot.core.lore.book(world.guild.id, BookRef(world="Axel"))
        assert book is not None
        entry_id = book.entry_ids[0]
        shown = await emu.invoke_command(
            "lore show", {"entry": entry_id}, user=world.bob, channel=world.channel
        )
        embed = (await shown.response())["data"]["embeds"][0]
        assert embed["description"] == "Two moons."
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields["Secondary keys (NOT ANY)"] == "night"
        removed = await emu.invoke_command(
            "lore remove", {"entry": entry_id}, user=world.alice, channel=world.channel
        )
        assert f"Removed lore entry `#{entry_id}`" in (await removed.response())["data"]["content"]
        book = await bot.core.lore.book(world.guild.id, BookRef(world="Axel"))
    assert book is not None and book.entry_ids == ()


async def test_edit_sets_the_example_mode_and_the_form_keeps_the_cards_other_fields(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        await import_card(emu, world, Upload("lyra.json", to_json(v2_document(name="Lyra"))))
        quick = await emu.invoke_command(
            "character edit",
            {"character": "Lyra", "examples": "always"},
            user=world.bob,
            channel=world.channel,
        )
        assert "was updated" in (await quick.response())["data"]["content"]
        form = await emu.invoke_command(
            "character edit", {"character": "Lyra"}, user=world.bob, channel=world.channel
        )
        await form.response()
        assert form.modal is not None
        submitted = await emu.submit_modal(
            None,
            {
                "name": "Lyra",
                "persona": "A retired knight.",
                "greeting": "Hello.",
                "scenario": "",
                "examples": "",
            },
            world.bob,
        )
        await submitted.response()
        lyra = await bot.core.characters.find(world.guild.id, "Lyra")
        exported = parse_card(await export_card(emu, world, "Lyra", "json", 3))
    assert lyra.example_mode.value == "always" and lyra.persona == "A retired knight."
    assert lyra.system_prompt == "You are {{char}}. {{original}}"
    assert lyra.alternate_greetings == ("*waves*", "Oh, it's you, {{user}}. Again.")
    assert (exported.description, exported.first_mes) == ("A retired knight.", "Hello.")
    assert exported.tags == ("fantasy", "knight", "female")  # the rest of the card is kept


async def test_an_oversized_card_attachment_is_refused_from_its_size_before_download(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    # read_attachment's own sentence ("MB; the limit is"), not the card reader's ("MiB limit
    # for character cards"): the attachment's size was checked, nothing was downloaded.
    oversized = Upload("huge.png", b"\x89PNG\r\n\x1a\n" + bytes(20 * 1024 * 1024))
    async with galatea(emu, database, RecordingBackend()) as bot:
        answer = await import_card(emu, world, oversized)
        assert "That file is 20.0 MB; the limit is 20 MB." in answer.content
        assert await bot.core.characters.count(world.guild.id) == 0


async def test_a_lorebook_only_card_is_imported_through_discord(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    card = v2_document(name="Vell", description="", personality="")
    async with galatea(emu, database, RecordingBackend()) as bot:
        answer = await import_card(emu, world, Upload("vell.json", to_json(card)))
        assert "**Vell** was imported" in answer.content
        assert "a lorebook of 2 entries" in answer.content
        character = await bot.core.characters.find(world.guild.id, "Vell")
    assert character.persona == ""
