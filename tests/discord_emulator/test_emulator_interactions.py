"""End-to-end tests of application commands, autocomplete, modals and buttons."""

from __future__ import annotations

import discord
import pytest

from testkit.discord_emulator import DiscordEmulator, Upload
from testkit.discord_emulator.interactions import (
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    MODAL,
    UPDATE_MESSAGE,
)
from testkit.discord_emulator.messages import FLAG_EPHEMERAL, FLAG_LOADING
from tests.discord_emulator.sample_bot import EmuBot, Scene

pytestmark = pytest.mark.timeout(30)


async def test_tree_sync_records_commands(emu: DiscordEmulator, scene: Scene, bot: EmuBot) -> None:
    synced = await bot.tree.sync()
    assert [c.name for c in synced] == ["char"]
    stored = emu.world.commands[None][0]
    subcommands = {o["name"]: o for o in stored["options"]}
    assert set(subcommands) == {"say", "think", "create", "menu", "portrait"}
    say_options = {o["name"]: o for o in subcommands["say"]["options"]}
    assert say_options["name"]["autocomplete"] is True and say_options["name"]["type"] == 3
    request = emu.requests_matching("PUT", rf"^/applications/{emu.application_id}/commands$")[0]
    assert request.json[0]["name"] == "char"

    bot.tree.copy_global_to(guild=discord.Object(scene.guild.id))
    await bot.tree.sync(guild=discord.Object(scene.guild.id))
    assert emu.world.commands[scene.guild.id][0]["guild_id"] == str(scene.guild.id)
    again = await bot.tree.sync()
    assert again[0].id == synced[0].id  # ids stay stable across re-syncs


async def test_slash_command_ephemeral_response(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    await bot.tree.sync()
    record = await emu.invoke_command(
        "char say", {"name": "Aria", "text": "Hello!"}, user=scene.alice, channel=scene.channel
    )
    response = await record.response()
    assert response["type"] == CHANNEL_MESSAGE
    assert response["data"]["content"] == "Aria: Hello!"
    assert response["data"]["flags"] & FLAG_EPHEMERAL
    assert record.original is not None and record.original.ephemeral
    assert emu.messages_in(scene.channel) == []  # ephemeral: never in channel history
    callback = emu.requests_matching("POST", rf"^/interactions/{record.id}/")[0]
    assert callback.query == {"with_response": "1"}


async def test_defer_then_followup_edits_the_thinking_message(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    record = await emu.invoke_command(
        "char think", {"prompt": "dragons"}, user=scene.bob, channel=scene.channel
    )
    assert (await record.response())["type"] == DEFERRED_CHANNEL_MESSAGE
    followup = await record.followup()
    assert record.original is not None and followup.id == record.original.id
    assert followup.content == "thought about dragons"
    assert not followup.flags & FLAG_LOADING
    assert [m.content for m in emu.messages_in(scene.channel)] == ["thought about dragons"]
    assert followup["interaction_metadata"]["user"]["id"] == str(scene.bob.id)


async def test_autocomplete_returns_choices(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    await bot.tree.sync()
    record = await emu.autocomplete(
        "char say", {"name": "b"}, focused="name", user=scene.alice, channel=scene.channel
    )
    response = await record.response()
    assert response["type"] == AUTOCOMPLETE_RESULT
    assert record.choices == [{"name": "Bram", "value": "Bram"}]


async def test_modal_open_and_submit(emu: DiscordEmulator, scene: Scene, bot: EmuBot) -> None:
    opened = await emu.invoke_command("char create", user=scene.alice, channel=scene.channel)
    response = await opened.response()
    assert response["type"] == MODAL and response["data"]["title"] == "New character"
    submitted = await emu.submit_modal(
        "create_character",
        {"char_name": "Celeste", "char_persona": "A wandering bard."},
        user=scene.alice,
    )
    answer = await submitted.response()
    assert answer["type"] == CHANNEL_MESSAGE
    assert answer["data"]["content"] == "created Celeste: A wandering bard."


async def test_button_click_updates_the_message(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    menu = await emu.invoke_command("char menu", user=scene.alice, channel=scene.channel)
    await menu.response()
    message = menu.original
    assert message is not None and message["components"]
    click = await emu.click_button(message, "regen", user=scene.alice)
    assert (await click.response())["type"] == UPDATE_MESSAGE
    updated = emu.world.messages[message.id]
    assert updated.content == "regenerated" and updated["components"] == []
    with pytest.raises(LookupError):
        await emu.click_button(updated, "regen", user=scene.alice)


async def test_attachment_option_is_resolved_and_downloadable(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    record = await emu.invoke_command(
        "char portrait",
        {"image": Upload("aria.txt", b"pixels", "text/plain")},
        user=scene.alice,
        channel=scene.channel,
    )
    response = await record.response()
    assert response["data"]["content"] == "aria.txt:6:pixels"
    option = record.payload["data"]["options"][0]["options"][0]
    assert option["type"] == 11
    assert option["value"] in record.payload["data"]["resolved"]["attachments"]


async def test_late_callback_gets_unknown_interaction(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    emu.interactions.callback_deadline = 0.0  # as if the bot took longer than 3 seconds
    record = await emu.invoke_command(
        "char say", {"name": "Aria", "text": "late"}, user=scene.alice, channel=scene.channel
    )
    request = await emu.wait_for_request(method="POST", path=rf"^/interactions/{record.id}/")
    assert request.status == 404
    assert record.callback is None
