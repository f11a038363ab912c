"""A minimal real discord.py bot and a small world, used by the emulator's own tests."""

# Explicit `timeout=` parameters are the point of these test helpers: every wait is bounded.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import discord
from discord import app_commands
from discord.ext import commands

from testkit.discord_emulator import Channel, Guild, Member

CHARACTERS = ["Aria", "Bram", "Celeste"]


class CreateCharacter(discord.ui.Modal, title="New character"):
    char_name = discord.ui.TextInput(label="Name", custom_id="char_name")
    persona = discord.ui.TextInput(
        label="Persona", custom_id="char_persona", style=discord.TextStyle.paragraph
    )

    def __init__(self) -> None:
        super().__init__(custom_id="create_character")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"created {self.char_name.value}: {self.persona.value}"
        )


class ReplyControls(discord.ui.View):
    @discord.ui.button(label="Regenerate", custom_id="regen")
    async def regen(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="regenerated", view=None)


char = app_commands.Group(name="char", description="Character commands")


@char.command(name="say", description="Say something in character")
async def char_say(interaction: discord.Interaction, name: str, text: str) -> None:
    await interaction.response.send_message(f"{name}: {text}", ephemeral=True)


@char_say.autocomplete("name")
async def char_name_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return [
        app_commands.Choice(name=c, value=c)
        for c in CHARACTERS
        if c.lower().startswith(current.lower())
    ]


@char.command(name="think", description="Deferred answer")
async def char_think(interaction: discord.Interaction, prompt: str) -> None:
    await interaction.response.defer(thinking=True)
    await interaction.followup.send(f"thought about {prompt}")


@char.command(name="create", description="Open the creation modal")
async def char_create(interaction: discord.Interaction) -> None:
    await interaction.response.send_modal(CreateCharacter())


@char.command(name="menu", description="Show reply controls")
async def char_menu(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("Pick an action", view=ReplyControls())


@char.command(name="portrait", description="Upload a portrait")
async def char_portrait(interaction: discord.Interaction, image: discord.Attachment) -> None:
    data = await image.read()  # downloaded from the emulator's attachment URL
    await interaction.response.send_message(f"{image.filename}:{len(data)}:{data.decode()}")


class EmuBot(commands.Bot):
    """A minimal real bot: slash commands above plus webhook/channel replies to messages."""

    def __init__(self, intents: discord.Intents | None = None) -> None:
        if intents is None:
            intents = discord.Intents.default()
            intents.message_content = True
            intents.members = True
        # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE before
        # firing on_ready (default 2s); loopback needs far less.
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.1)
        self.seen: list[discord.Message] = []
        self.webhook_messages: list[discord.WebhookMessage] = []

    async def setup_hook(self) -> None:
        self.tree.add_command(char)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py sleeps 5s before every non-initial IDENTIFY (after INVALID_SESSION);
        # there is no identify rate limit to respect on loopback.
        return None

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return
        self.seen.append(message)
        if message.content.startswith("!rp "):
            await self._relay(message)
        elif message.content.startswith("!echo "):
            async with message.channel.typing():
                await message.channel.send(message.content[len("!echo ") :])

    async def _relay(self, message: discord.Message) -> None:
        """Speak as a character through a channel webhook, then edit the message."""
        assert isinstance(message.channel, discord.TextChannel)
        webhook = await message.channel.create_webhook(name="Galatea Relay")
        sent = await webhook.send(
            content=message.content[len("!rp ") :],
            username="Aria",
            avatar_url="https://example.invalid/aria.png",
            allowed_mentions=discord.AllowedMentions.none(),
            wait=True,
        )
        edited = await sent.edit(
            content=f"{sent.content} (edited)", allowed_mentions=discord.AllowedMentions.none()
        )
        self.webhook_messages.append(edited)


@dataclass
class Scene:
    guild: Guild
    channel: Channel
    alice: Member
    bob: Member


async def wait_until(
    condition: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01
) -> None:
    """Poll a bot-side condition (cache state has no event to await) for at most ``timeout``."""
    for _ in range(max(1, round(timeout / interval))):
        if condition():
            return
        await asyncio.sleep(interval)
    if not condition():
        raise TimeoutError(f"condition still false after {timeout}s")
