"""Texts too long for Discord's form have a way back: export the card, edit it, and import it
with ``replace:`` onto the same character (its creator or an admin only)."""

from __future__ import annotations

import json

from bot.store import Database
from testkit.discord_emulator import DiscordEmulator, Upload
from testkit.harness import World, galatea
from tests.cards.builders import to_json, v2_document
from tests.cogs.test_cards_end_to_end import EPHEMERAL, export_card, import_card
from tests.support.recording_backend import RecordingBackend

LONG = "A knight of the old road. " * 200  # 5,200 characters: past the form's 4,000


async def test_a_persona_too_long_for_the_form_is_edited_through_the_card(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        await import_card(
            emu, world, Upload("lyra.json", to_json(v2_document(name="Lyra", description=LONG)))
        )
        before = await bot.core.characters.find(world.guild.id, "Lyra")
        form = await emu.invoke_command(
            "character edit", {"character": "Lyra"}, user=world.bob, channel=world.channel
        )
        advice = (await form.response())["data"]["content"]
        assert "`/character import replace:Lyra`" in advice

        card = json.loads(await export_card(emu, world, "Lyra", "json", 2))
        card["data"]["description"] = LONG.replace("old road", "new road")
        answer = await import_card(
            emu, world, Upload("lyra.json", json.dumps(card).encode()), replace="Lyra"
        )
        assert "was updated from the card" in answer.content
        after = await bot.core.characters.find(world.guild.id, "Lyra")
        count = await bot.core.characters.count(world.guild.id)
    assert after.id == before.id and count == 1  # the same character, not a new one
    assert after.persona.startswith(LONG.replace("old road", "new road").strip())
    assert "old road" not in after.persona
    assert after.owner_id == world.bob.id


async def test_only_the_creator_or_an_admin_replaces_a_character_from_a_card(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        await import_card(emu, world, Upload("lyra.json", to_json(v2_document(name="Lyra"))))
        before = await bot.core.characters.find(world.guild.id, "Lyra")
        other = to_json(v2_document(name="Lyra", description="Stolen."))
        record = await emu.invoke_command(
            "character import",
            {"card": Upload("x.json", other), "replace": "Lyra"},
            user=world.carol,
            channel=world.channel,
        )
        refusal = await record.response()
        after = await bot.core.characters.find(world.guild.id, "Lyra")
    assert refusal["data"]["flags"] & EPHEMERAL
    assert after.persona == before.persona != "Stolen."
