"""Discord's documented limits, enforced by the emulation (each rule cited in limits.py,
messages.py and rest_webhooks.py), checked through a real discord.py client."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
import pytest

from testkit.discord_emulator import DiscordEmulator
from testkit.discord_emulator.rest_webhooks import MAX_WEBHOOKS_PER_GUILD
from tests.discord_emulator.sample_bot import EmuBot, Scene, wait_until

pytestmark = pytest.mark.timeout(30)

TOO_LONG = "x" * 2001
MIB = 1024 * 1024


def _channel(bot: EmuBot, scene: Scene) -> discord.TextChannel:
    channel = bot.get_channel(scene.channel.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def _rejected(call: Awaitable[Any]) -> discord.HTTPException:
    with pytest.raises(discord.HTTPException) as info:
        await call
    return info.value


# -- content: 2,000 characters on every path ----------------------------------------------------


async def test_content_over_2000_is_refused_on_channel_send_and_edit(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    channel = _channel(bot, scene)
    error = await _rejected(channel.send(TOO_LONG))
    assert (error.status, error.code) == (400, 50035)
    assert "content" in error.text and "2000 or fewer" in error.text
    sent = await channel.send("x" * 2000)  # the limit itself is allowed (inclusive)
    error = await _rejected(sent.edit(content=TOO_LONG))
    assert (error.status, error.code) == (400, 50035)
    assert emu.world.messages[sent.id].content == "x" * 2000


async def test_content_over_2000_is_refused_on_webhook_execute_and_edit(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    webhook = await _channel(bot, scene).create_webhook(name="Relay")
    error = await _rejected(webhook.send(TOO_LONG, username="Aria", wait=True))
    assert (error.status, error.code) == (400, 50035)
    sent = await webhook.send("short", username="Aria", wait=True)
    error = await _rejected(webhook.edit_message(sent.id, content=TOO_LONG))
    assert (error.status, error.code) == (400, 50035)


async def test_content_over_2000_is_refused_on_interaction_responses_and_followups(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    codes: list[tuple[str, int]] = []

    @bot.tree.command(name="long", description="long answers")
    async def long(interaction: discord.Interaction) -> None:
        calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("response", lambda: interaction.response.send_message(TOO_LONG)),
            ("ok", lambda: interaction.response.send_message("short")),
            ("edit", lambda: interaction.edit_original_response(content=TOO_LONG)),
            ("followup", lambda: interaction.followup.send(TOO_LONG)),
        ]
        for name, call in calls:
            try:
                await call()
            except discord.HTTPException as exc:
                codes.append((name, exc.code))

    await emu.invoke_command("long", {}, user=scene.alice, channel=scene.channel)
    await wait_until(lambda: len(codes) == 3)
    assert codes == [("response", 50035), ("edit", 50035), ("followup", 50035)]


# -- embeds: Resources > Message > Embed Limits ---------------------------------------------------


def _field(name: str = "n", value: str = "v") -> dict[str, Any]:
    return {"name": name, "value": value}


REQUIRED = "This field is required"
BAD_EMBEDS: dict[str, tuple[list[dict[str, Any]], str]] = {
    "title": ([{"title": "t" * 257}], "embeds.0.title: Must be 256 or fewer"),
    "description": ([{"description": "d" * 4097}], "embeds.0.description: Must be 4096 or fewer"),
    "26 fields": ([{"fields": [_field()] * 26}], "embeds.0.fields: Must be 25 or fewer"),
    "field name": ([{"fields": [_field(name="n" * 257)]}], "fields.0.name: Must be 256 or fewer"),
    "field value": ([{"fields": [_field(value="v" * 1025)]}], "0.value: Must be 1024 or fewer"),
    "empty field value": ([{"fields": [_field(value="")]}], f"fields.0.value: {REQUIRED}"),
    "blank field name": ([{"fields": [_field(name="   ")]}], f"fields.0.name: {REQUIRED}"),
    "footer": ([{"footer": {"text": "f" * 2049}}], "footer.text: Must be 2048 or fewer"),
    "author": ([{"author": {"name": "a" * 257}}], "author.name: Must be 256 or fewer"),
    "6001 across embeds": (
        [{"description": "d" * 4000}, {"description": "d" * 2001}],
        "Embed size exceeds maximum size of 6000",
    ),
}


@pytest.mark.parametrize("case", list(BAD_EMBEDS))
async def test_embed_limits_are_enforced(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot, case: str
) -> None:
    embeds, expected = BAD_EMBEDS[case]
    error = await _rejected(
        _channel(bot, scene).send(embeds=[discord.Embed.from_dict(e) for e in embeds])
    )
    assert (error.status, error.code) == (400, 50035)
    assert expected in error.text
    assert emu.messages_in(scene.channel) == []


async def test_more_than_10_embeds_are_refused(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    # discord.py refuses 11 embeds itself; a raw request shows the emulation's answer.
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{emu.api_url}/channels/{scene.channel.id}/messages",
            json={"embeds": [{"title": "t"}] * 11},
            headers={"Authorization": f"Bot {emu.token}"},
        )
        body = await response.json()
    assert (response.status, body["code"]) == (400, 50035)
    assert body["errors"]["embeds"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"


async def test_embeds_at_the_limits_are_accepted(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    # Exactly 6000 in all, trailing whitespace not counted, every field at its limit.
    first = {"title": "t" * 256, "description": "d" * 3720 + "   ", "footer": {"text": "f" * 1000}}
    second = {"fields": [_field("n" * 4, "v" * 1020)]}
    sent = await _channel(bot, scene).send(
        embeds=[discord.Embed.from_dict(first), discord.Embed.from_dict(second)]
    )
    assert len(emu.world.messages[sent.id]["embeds"]) == 2


# -- uploads: Reference > Uploading Files; JSON error code 40005 ----------------------------------


async def test_an_upload_over_the_servers_limit_is_413_entity_too_large(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    channel = _channel(bot, scene)
    big = discord.File(io.BytesIO(b"\0" * (10 * MIB + 1)), filename="big.bin")
    error = await _rejected(channel.send(file=big))
    assert (error.status, error.code) == (413, 40005)
    webhook = await channel.create_webhook(name="Relay")
    big = discord.File(io.BytesIO(b"\0" * (10 * MIB + 1)), filename="big.bin")
    error = await _rejected(webhook.send(file=big, username="Aria", wait=True))
    assert (error.status, error.code) == (413, 40005)
    exact = discord.File(io.BytesIO(b"\0" * (10 * MIB)), filename="exact.bin")
    await channel.send(file=exact)  # the limit is inclusive
    scene.guild.attachment_size_limit = 50 * MIB  # a boosted server
    big = discord.File(io.BytesIO(b"\0" * (10 * MIB + 1)), filename="big.bin")
    await channel.send(file=big)


async def test_interactions_announce_the_servers_upload_limit_and_it_holds_for_responses(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    seen: list[int] = []
    codes: list[int] = []

    @bot.tree.command(name="upload", description="upload")
    async def upload(interaction: discord.Interaction) -> None:
        seen.append(interaction.filesize_limit)
        big = discord.File(io.BytesIO(b"\0" * (interaction.filesize_limit + 1)), "big.bin")
        try:
            await interaction.response.send_message(file=big)
        except discord.HTTPException as exc:
            codes.append(exc.code)

    scene.guild.attachment_size_limit = 8 * MIB
    await emu.invoke_command("upload", {}, user=scene.alice, channel=scene.channel)
    await wait_until(lambda: bool(codes))
    assert seen == [8 * MIB] and codes == [40005]


# -- webhooks: Resources > Webhook; JSON error codes 30007, 30058, 10015 -------------------------


async def test_webhook_names_may_not_hold_clyde_or_discord_nor_pass_80(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    webhook = await _channel(bot, scene).create_webhook(name="Relay")
    for bad in ("Clyde", "my DISCORD", "x" * 81, ""):
        if bad:  # discord.py leaves an empty username out of the request
            error = await _rejected(webhook.send("hi", username=bad, wait=True))
            assert (error.status, error.code) == (400, 50035)
        error = await _rejected(webhook.edit(name=bad))
        assert (error.status, error.code) == (400, 50035)
    await webhook.send("hi", username="x" * 80, wait=True)


async def test_the_servers_webhook_cap_is_30058(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    others = [emu.add_text_channel(scene.guild, f"c{i}") for i in range(67)]
    for index in range(MAX_WEBHOOKS_PER_GUILD - 1):
        emu.world.add_webhook(others[index // 15], f"hook {index}", creator=emu.world.bot)
    channel = _channel(bot, scene)
    await channel.create_webhook(name="the last one")
    error = await _rejected(channel.create_webhook(name="one too many"))
    assert (error.status, error.code) == (400, 30058)


async def test_a_deleted_webhook_is_unknown_and_announced(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    updates: list[int] = []

    async def on_webhooks_update(channel: discord.abc.GuildChannel) -> None:
        updates.append(channel.id)

    bot.add_listener(on_webhooks_update)
    channel = _channel(bot, scene)
    by_rest = await channel.create_webhook(name="Relay")
    by_moderator = await channel.create_webhook(name="Relay 2")
    await wait_until(lambda: len(updates) == 2)
    await by_rest.delete()
    emu.delete_webhook(emu.world.webhooks[by_moderator.id])
    await wait_until(lambda: len(updates) == 4)
    for gone in (by_rest, by_moderator):
        error = await _rejected(gone.send("hi", username="Aria", wait=True))
        assert (error.status, error.code) == (404, 10015)
