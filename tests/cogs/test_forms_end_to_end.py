"""Forms and buttons answer the interaction that opened them: two members and two servers with
forms open at once, each submission lands on its own character in its own server."""

from __future__ import annotations

from typing import Any

from bot.store import Database
from testkit.discord_emulator import DiscordEmulator, InteractionRecord
from testkit.discord_emulator.interaction_payloads import MODAL_SUBMIT, InteractionPayloads
from testkit.harness import World, build_world, galatea
from tests.support.recording_backend import RecordingBackend


def fields(name: str, persona: str) -> dict[str, str]:
    return {"name": name, "persona": persona, "greeting": "", "scenario": "", "examples": ""}


async def open_form(
    emu: DiscordEmulator, world: World, who: Any, command: str, options: dict[str, Any]
) -> InteractionRecord:
    record = await emu.invoke_command(command, options, user=who, channel=world.channel)
    await record.response()
    assert record.modal is not None, record.callback
    return record


async def quick_create(emu: DiscordEmulator, world: World, who: Any, name: str) -> None:
    record = await emu.invoke_command(
        "character create", {"name": name, "persona": "p"}, user=who, channel=world.channel
    )
    assert "is ready" in (await record.response())["data"]["content"]


async def test_two_members_editing_at_once_each_change_their_own_character(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        await quick_create(emu, world, world.bob, "Bram")
        await quick_create(emu, world, world.carol, "Cora")
        bobs = await open_form(emu, world, world.bob, "character edit", {"character": "Bram"})
        carols = await open_form(emu, world, world.carol, "character edit", {"character": "Cora"})
        assert bobs.modal is not None and carols.modal is not None
        assert bobs.modal["custom_id"] != carols.modal["custom_id"]

        # Bob submits first, though Carol's form was opened last.
        bob_done = await emu.submit_modal(
            None, fields("Bram the Bold", "Bob's words."), world.bob, opened_by=bobs
        )
        assert "was updated" in (await bob_done.response())["data"]["content"]
        carol_done = await emu.submit_modal(
            None, fields("Cora", "Carol's words."), world.carol, opened_by=carols
        )
        assert "was updated" in (await carol_done.response())["data"]["content"]

        bram = await bot.core.characters.find(world.guild.id, "Bram the Bold")
        cora = await bot.core.characters.find(world.guild.id, "Cora")
    assert (bram.persona, bram.owner_id) == ("Bob's words.", world.bob.id)
    assert (cora.persona, cora.owner_id) == ("Carol's words.", world.carol.id)


async def test_one_member_creating_in_two_servers_at_once_stores_each_in_its_own(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    harbor = build_world(emu, "Harbor")
    alice_there = emu.add_member(harbor.guild, world.alice.user, nick="Alice")
    async with galatea(emu, database, RecordingBackend()) as bot:
        here = await open_form(emu, world, world.alice, "character create", {"name": "Tide"})
        there = await emu.invoke_command(
            "character create",
            {"name": "Reef", "nsfw": True},
            user=alice_there,
            channel=harbor.channel,
        )
        await there.response()
        assert there.modal is not None

        created = await emu.submit_modal(
            None, fields("Tide", "Of this tavern."), world.alice, opened_by=here
        )
        assert "is ready" in (await created.response())["data"]["content"]
        created_there = await emu.submit_modal(
            None, fields("Reef", "Of the harbor."), alice_there, opened_by=there
        )
        assert "is ready" in (await created_there.response())["data"]["content"]

        tavern = await bot.core.characters.in_guild(world.guild.id, limit=10)
        harbor_chars = await bot.core.characters.in_guild(harbor.guild.id, limit=10)
    assert [(c.name, c.persona, c.nsfw) for c in tavern] == [("Tide", "Of this tavern.", False)]
    assert [(c.name, c.persona, c.nsfw) for c in harbor_chars] == [("Reef", "Of the harbor.", True)]


async def test_a_submission_for_someone_elses_form_is_refused_and_writes_nothing(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    """Discord never sends this (a modal shows only to its opener), but a guessed or reused
    id must still not write under the opener's name: the check comes before the write."""
    async with galatea(emu, database, RecordingBackend()) as bot:
        await quick_create(emu, world, world.bob, "Bram")
        bobs = await open_form(emu, world, world.bob, "character edit", {"character": "Bram"})
        assert bobs.modal is not None
        data = {
            "custom_id": bobs.modal["custom_id"],
            "components": InteractionPayloads.modal_submission(
                bobs.modal, fields("Stolen", "Carol's words.")
            ),
        }
        forged = emu._interact(MODAL_SUBMIT, data, world.carol, world.channel)
        refusal = await forged.response()
        assert refusal["data"]["flags"] & 64  # ephemeral
        assert "someone else's" in refusal["data"]["content"]
        bram = await bot.core.characters.find(world.guild.id, "Bram")
    assert bram.persona == "p"


async def test_a_confirm_panel_answers_only_its_opener(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        await quick_create(emu, world, world.bob, "Bram")
        asked = await emu.invoke_command(
            "character delete", {"character": "Bram"}, user=world.bob, channel=world.channel
        )
        await asked.response()
        panel = asked.original
        assert panel is not None
        button_id = panel["components"][0]["components"][0]["custom_id"]
        refused = await emu.click_button(panel, button_id, world.carol)
        assert "someone else's" in (await refused.response())["data"]["content"]
        still = await bot.core.characters.find(world.guild.id, "Bram")
        accepted = await emu.click_button(panel, button_id, world.bob)
        await accepted.response()
        await asked.wait_until(lambda r: "was deleted" in ((r.original or {}).get("content") or ""))
    assert still.name == "Bram"
