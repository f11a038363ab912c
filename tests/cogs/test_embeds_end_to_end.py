"""Embeds past Discord's limits (Resources > Message > Embed Limits), as members meet them:
a long imported character, `/character show`, `/lore show` with an empty key, `/config` with
many channels. The emulation refuses what Discord refuses, so each of these failed before."""

from __future__ import annotations

import copy
from typing import Any

from bot.guilds.config import Setting
from bot.lore.service import BookRef
from bot.policy import OPERATOR
from bot.store import Database
from testkit.discord_emulator import DiscordEmulator, Upload
from testkit.harness import World, galatea
from tests.cards.builders import ENTRY_V2, to_json, v2_document
from tests.cogs.test_cards_end_to_end import import_card
from tests.support.recording_backend import RecordingBackend

EMBED_TEXTS = (("title",), ("description",), ("footer", "text"), ("author", "name"))


def embed_size(embed: dict[str, Any]) -> int:
    """The characters Discord counts towards an embed's 6,000."""
    size = 0
    for path in EMBED_TEXTS:
        value: Any = embed
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        size += len(value or "")
    return size + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))


def long_card(**changes: Any) -> Upload:
    document = v2_document(
        name="Longwind",
        description="A wandering bard who never stops talking. " * 300,  # ~12,600 characters
        scenario="The tavern is full tonight. " * 140,  # ~3,900
        first_mes="*tunes the lute* " * 400,  # ~6,800
        **changes,
    )
    return Upload("longwind.json", to_json(document), "application/json")


async def test_a_long_character_imports_and_shows_within_discords_limits(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()):
        answer = await import_card(emu, world, long_card())
        assert "was imported" in answer.content
        shown = await emu.invoke_command(
            "character show", {"character": "Longwind"}, user=world.alice, channel=world.channel
        )
        body = await shown.response()
    for embed in (answer["embeds"][0], body["data"]["embeds"][0]):
        assert embed["title"] == "Longwind"
        assert embed_size(embed) <= 6000
        assert embed["description"].endswith("…")  # cut visibly, not silently
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields["Scenario"].endswith("…") and len(fields["Scenario"]) <= 1024


async def test_lore_show_with_an_imported_empty_secondary_key(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    entry = copy.deepcopy(ENTRY_V2)
    entry["secondary_keys"] = [""]
    book = {"name": "Book", "extensions": {}, "entries": [entry]}
    async with galatea(emu, database, RecordingBackend()) as bot:
        await import_card(emu, world, long_card(character_book=book))
        lorebook = await bot.core.lore.book(world.guild.id, BookRef(character="Longwind"))
        assert lorebook is not None
        entry_id = lorebook.stored_entries()[0].id
        shown = await emu.invoke_command(
            "lore show", {"entry": entry_id}, user=world.alice, channel=world.channel
        )
        body = await shown.response()
    fields = body["data"]["embeds"][0]["fields"]
    assert all(f["value"].strip() for f in fields)


async def test_config_with_many_allowed_channels_and_roles_still_answers(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    channels = [emu.world.add_channel(world.guild, f"rp-{i}").id for i in range(120)]
    roles = [emu.world.add_role(world.guild, f"role-{i}").id for i in range(120)]
    async with galatea(emu, database, RecordingBackend()) as bot:
        await bot.core.guild_config.update(
            world.guild.id,
            {
                Setting.ALLOWED_CHANNELS: tuple(channels),
                Setting.CREATOR_ROLES: tuple(roles),
                Setting.SESSION_ROLES: tuple(roles),
            },
            caller=OPERATOR,
        )
        shown = await emu.invoke_command("config show", {}, user=world.alice, channel=world.channel)
        body = await shown.response()
    embed = body["data"]["embeds"][0]
    assert embed_size(embed) <= 6000
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Channels"].startswith(f"<#{channels[0]}>, ")
    assert fields["Channels"].endswith(" more") and len(fields["Channels"]) <= 1024
    # Cut between mentions, never inside one.
    assert all(part.startswith("<#") for part in fields["Channels"].split(", ")[:-1])
