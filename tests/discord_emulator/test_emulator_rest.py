"""Broader REST coverage through discord.py's own API (fetches, edits, replies, components)."""

from __future__ import annotations

import discord
import pytest

from testkit.discord_emulator import DiscordEmulator
from testkit.discord_emulator.interactions import DEFERRED_UPDATE_MESSAGE
from tests.discord_emulator.sample_bot import EmuBot, Scene, wait_until

pytestmark = pytest.mark.timeout(30)


async def test_fetches_parse(emu: DiscordEmulator, scene: Scene, bot: EmuBot) -> None:
    channel = await bot.fetch_channel(scene.channel.id)
    assert isinstance(channel, discord.TextChannel) and channel.name == "roleplay"
    guild = await bot.fetch_guild(scene.guild.id)
    assert guild.name == "Tavern"
    member = await guild.fetch_member(scene.alice.id)
    assert member.display_name == "Alice the Bold"
    user = await bot.fetch_user(scene.bob.id)
    assert user.global_name == "Bobby"
    assert [c.id for c in await guild.fetch_channels()] == [scene.channel.id]
    info = await bot.application_info()
    assert info.id == emu.application_id


async def test_bot_message_edit_delete_reply_and_reaction(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    user_msg = await emu.send_message(scene.channel, scene.alice, "ping")
    await bot.wait_for("message", timeout=5)
    channel = bot.get_channel(scene.channel.id)
    assert isinstance(channel, discord.TextChannel)
    cached = await channel.fetch_message(user_msg.id)
    reply = await cached.reply("pong", mention_author=False)
    stored = emu.world.messages[reply.id]
    assert stored["message_reference"]["message_id"] == str(user_msg.id)
    assert stored.mentioned_user_ids == []  # replied_user was False
    loud = await cached.reply("pong!")
    assert emu.world.messages[loud.id].mentioned_user_ids == [scene.alice.id]

    edited = await reply.edit(content="pong (edited)")
    assert edited.content == "pong (edited)" and edited.edited_at is not None
    await reply.add_reaction("👍")
    assert emu.world.messages[reply.id]["reactions"][0]["emoji"]["name"] == "👍"
    await reply.delete()
    assert emu.world.messages[reply.id].deleted
    with pytest.raises(discord.Forbidden):  # someone else's message
        await cached.edit(content="hijack")


async def test_channel_view_and_deferred_component_update(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    class Later(discord.ui.View):
        @discord.ui.button(label="Later", custom_id="later")
        async def later(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
            await interaction.response.defer()
            await interaction.edit_original_response(content="done later", view=None)
            await interaction.followup.send("secret", ephemeral=True)

    channel = bot.get_channel(scene.channel.id)
    sent = await channel.send("controls", view=Later())  # type: ignore[union-attr]
    click = await emu.click_button(emu.world.messages[sent.id], "later", scene.bob)
    assert (await click.response())["type"] == DEFERRED_UPDATE_MESSAGE
    note = await click.followup()
    assert note.ephemeral and note.content == "secret"
    assert emu.world.messages[sent.id].content == "done later"
    assert emu.world.messages[sent.id]["components"] == []


async def test_original_response_roundtrip(emu: DiscordEmulator, scene: Scene, bot: EmuBot) -> None:
    done: list[str] = []

    @bot.tree.command(name="echo", description="echo")
    async def echo(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text)
        message = await interaction.original_response()
        await message.edit(content=f"{message.content}!")
        extra = await interaction.followup.send("extra", wait=True)
        await extra.delete()
        done.append("ok")

    record = await emu.invoke_command(
        "echo", {"text": "hi"}, user=scene.alice, channel=scene.channel
    )
    await wait_until(lambda: bool(done))
    assert record.original is not None and record.original.content == "hi!"
    assert record.followups[0].deleted
    assert [m.content for m in emu.messages_in(scene.channel)] == ["hi!"]


async def test_history_before_after(emu: DiscordEmulator, scene: Scene, bot: EmuBot) -> None:
    sent = [await emu.send_message(scene.channel, scene.bob, f"m{i}") for i in range(6)]
    channel = bot.get_channel(scene.channel.id)
    pivot = discord.Object(sent[3].id)
    before = [m.content async for m in channel.history(limit=10, before=pivot)]  # type: ignore[union-attr]
    assert before == ["m2", "m1", "m0"]
    after = [m.content async for m in channel.history(limit=10, after=pivot)]  # type: ignore[union-attr]
    assert after == ["m4", "m5"]
