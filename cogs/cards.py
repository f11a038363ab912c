"""/character import and /character export: TavernAI / SillyTavern character cards.

The two commands join the ``/character`` group of cogs.characters (loaded before this one),
so people find them next to create and edit.
"""

from __future__ import annotations

import io
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.cards import DEFAULT_MAX_BYTES
from bot.characters.fields import MAX_NAME
from bot.errors import InvalidInput
from bot.lore.service import BookRef
from cogs.characters import character_embed
from cogs.common import (
    NO_MENTIONS,
    caller_of,
    character_autocomplete,
    core_of,
    read_attachment,
    require_guild,
)
from cogs.deadline import in_time
from cogs.uploads import TooLargeToUpload, Upload, fit_uploads_off_loop, mib


class CardCommands(commands.Cog):
    """The card commands; their callbacks are bound to this object, their parent is
    ``/character``."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="import")
    @app_commands.describe(
        card="The card: a PNG or WebP with the character inside, a CHARX, or its JSON (V1-V3)",
        name="Use this name instead of the card's",
        nsfw="Adult character: plays only in age-restricted channels",
        replace="Update this character of yours from the card instead of creating a new one",
    )
    @app_commands.autocomplete(replace=character_autocomplete)
    async def import_card(
        self,
        interaction: discord.Interaction[Any],
        card: discord.Attachment,
        name: app_commands.Range[str, 1, MAX_NAME] | None = None,
        nsfw: bool = False,
        replace: app_commands.Range[str, 1, MAX_NAME] | None = None,
    ) -> None:
        """Import a character card from TavernAI, SillyTavern, chub and the like."""
        core = core_of(interaction)
        guild_id = require_guild(interaction)
        caller = caller_of(interaction)
        if replace is not None:
            await self._replace(interaction, card, replace, name)
            return
        # Refused before the file is read; the check may wait on storage: in_time (3 s).
        checked = core.characters.check_can_create(guild_id, caller=caller)
        await in_time(interaction, checked, ephemeral=True)
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        data = await read_attachment(card, limit=DEFAULT_MAX_BYTES)
        character = await core.characters.import_card(
            guild_id, caller.user_id, data, card.filename, name=name, nsfw=nsfw, caller=caller
        )
        extras = []
        if character.alternate_greetings:
            extras.append(f"{len(character.alternate_greetings) + 1} greetings to choose from")
        lorebook = await core.lore.book(guild_id, BookRef(character=character.name))
        if lorebook is not None:
            extras.append(f"a lorebook of {len(lorebook.book.entries)} entries")
        with_extras = f" with {' and '.join(extras)}" if extras else ""
        await interaction.followup.send(
            f"**{character.name}** was imported{with_extras}. Start a roleplay with "
            f"`/session start character:{character.name}`.",
            embed=character_embed(character, with_avatar=False),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def _replace(
        self,
        interaction: discord.Interaction[Any],
        card: discord.Attachment,
        character: str,
        name: str | None,
    ) -> None:
        core = core_of(interaction)
        guild_id = require_guild(interaction)
        caller = caller_of(interaction)
        # Refused before the file is read; the service checks again when it replaces.
        found = core.characters.find_changeable(guild_id, character, caller=caller)
        await in_time(interaction, found, ephemeral=True)
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        data = await read_attachment(card, limit=DEFAULT_MAX_BYTES)
        updated = await core.characters.replace_from_card(
            guild_id, character, data, card.filename, caller=caller, name=name
        )
        await interaction.followup.send(
            f"**{updated.name}** was updated from the card (its lorebook, NSFW flag and "
            "settings are kept).",
            embed=character_embed(updated, with_avatar=False),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="export")
    @app_commands.describe(
        character="The character to export",
        fmt="PNG (the avatar with the card inside) or JSON",
        version="Card version: 3 (newest) or 2 (read by older apps)",
    )
    @app_commands.rename(fmt="format")
    @app_commands.autocomplete(character=character_autocomplete)
    async def export_card(
        self,
        interaction: discord.Interaction[Any],
        character: app_commands.Range[str, 1, MAX_NAME],
        fmt: Literal["png", "json"] = "png",
        version: Literal[2, 3] = 3,
    ) -> None:
        """Download a character as a card for SillyTavern and other apps."""
        core = core_of(interaction)
        found = await core.characters.find(require_guild(interaction), character)
        await interaction.response.defer(ephemeral=True, thinking=True)
        limit = interaction.filesize_limit  # the attachment_size_limit Discord announced
        data, filename = await core.characters.export_card(found.id, fmt, version)
        said = f"**{found.name}** as a V{version} {fmt.upper()} card."
        if len(data) > limit and fmt == "png":
            # The PNG holds the avatar and (V3) two copies of the card: JSON is far smaller.
            png_size = len(data)
            data, filename = await core.characters.export_card(found.id, "json", version)
            said = (
                f"**{found.name}** as a V{version} card: the PNG ({mib(png_size)}) is over this "
                f"server's upload limit of {mib(limit)}, so here it is as JSON (the avatar is "
                "not inside)."
            )
        if len(data) > limit:
            try:
                files, _ = await fit_uploads_off_loop([Upload(filename, data)], limit)
            except TooLargeToUpload:
                files = []
            if len(files) != 1:
                raise InvalidInput(
                    f"**{found.name}**'s card is {mib(len(data))}, over this server's upload "
                    f"limit of {mib(limit)} even compressed. Shorten its lorebook or texts, or "
                    "export it on a server with a higher limit."
                )
            filename, data = files[0].filename, files[0].data
            said += " It is compressed (.gz) to fit: unpack it before importing."
        await interaction.followup.send(
            said,
            file=discord.File(io.BytesIO(data), filename=filename),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )


async def setup(bot: commands.Bot) -> None:
    group = bot.tree.get_command("character")
    if not isinstance(group, app_commands.Group):
        raise RuntimeError("cogs.cards needs cogs.characters to be loaded first")
    for command in CardCommands(bot).walk_app_commands():
        group.add_command(command)


async def teardown(bot: commands.Bot) -> None:
    group = bot.tree.get_command("character")
    if isinstance(group, app_commands.Group):
        for name in ("import", "export"):
            group.remove_command(name)
