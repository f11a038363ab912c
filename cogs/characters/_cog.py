"""The /character commands: create, edit, show, list and delete."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.characters.fields import MAX_NAME, CharacterDraft
from bot.errors import InvalidInput
from bot.values import ExampleMode
from cogs.characters._avatar import pending_avatar, saved_avatar
from cogs.characters._form import CharacterModal, too_long_for_form
from cogs.characters._views import ListPages, character_embed
from cogs.common import (
    NO_MENTIONS,
    Confirm,
    caller_of,
    character_autocomplete,
    core_of,
    reply_ephemeral,
    require_guild,
)
from cogs.deadline import in_time
from cogs.embeds import Embed
from cogs.forms import Opener

PAGE_SIZE = 10


@app_commands.guild_only()
class CharacterCog(commands.GroupCog, group_name="character", group_description="Characters"):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command()
    @app_commands.describe(
        name="The character's name",
        persona="A one-line persona; leave empty to write the long fields in a form",
        avatar="An image for the character",
        avatar_url="Or a web link (http/https) to an image for the character",
        nsfw="Adult character: plays only in age-restricted channels",
    )
    async def create(
        self,
        interaction: discord.Interaction[Any],
        name: app_commands.Range[str, 1, MAX_NAME],
        persona: app_commands.Range[str, 1, 4000] | None = None,
        avatar: discord.Attachment | None = None,
        nsfw: bool = False,
        avatar_url: app_commands.Range[str, 1, 2000] | None = None,
    ) -> None:
        """Create a character for this server."""
        core = core_of(interaction)
        guild_id = require_guild(interaction)
        # Refused before the form opens; the service checks again when it saves.
        await core.characters.check_can_create(guild_id, caller=caller_of(interaction))
        pending = pending_avatar(interaction, avatar, avatar_url)

        async def save(inter: discord.Interaction[Any], draft: CharacterDraft) -> None:
            png, note = await saved_avatar(pending, inter, form_filled=not persona)
            created = core.characters.create(
                guild_id, inter.user.id, draft, png, caller=caller_of(inter)
            )
            character = await in_time(inter, created, ephemeral=True)
            ready = (
                f"**{character.name}** is ready. Start a roleplay with "
                f"`/session start character:{character.name}`."
            )
            embed = character_embed(character, with_avatar=False)
            if inter.response.is_done():  # "thinking" only to this user: the news goes public
                await inter.edit_original_response(content=note or "Saved.")
                await inter.followup.send(ready, embed=embed, allowed_mentions=NO_MENTIONS)
            else:
                await inter.response.send_message(ready, embed=embed, allowed_mentions=NO_MENTIONS)

        draft = CharacterDraft(name=name, persona=persona or "", nsfw=nsfw)
        if persona:
            await save(interaction, draft)
        else:
            await interaction.response.send_modal(
                CharacterModal(
                    Opener.of(interaction),
                    title=f"New character: {name}",
                    draft=draft,
                    on_submit=save,
                )
            )

    @app_commands.command()
    @app_commands.describe(
        character="The character to edit",
        avatar="A new image",
        avatar_url="Or a web link (http/https) to a new image",
        nsfw="Adult",
        examples="Example dialogue in the prompt: always, gradual (until the story fills it), "
        "or never",
        form="Open the form with the texts (default: yes, unless only options change)",
        talkativeness="In a group roleplay, how readily they speak up unnamed: 0 (never) to 1",
    )
    @app_commands.autocomplete(character=character_autocomplete)
    async def edit(
        self,
        interaction: discord.Interaction[Any],
        character: app_commands.Range[str, 1, MAX_NAME],
        avatar: discord.Attachment | None = None,
        nsfw: bool | None = None,
        examples: Literal["always", "gradual", "never"] | None = None,
        form: bool | None = None,
        talkativeness: app_commands.Range[float, 0.0, 1.0] | None = None,
        avatar_url: app_commands.Range[str, 1, 2000] | None = None,
    ) -> None:
        """Edit one of your characters (admins can edit any)."""
        core = core_of(interaction)
        guild_id = require_guild(interaction)
        caller = caller_of(interaction)
        current = await core.characters.find_changeable(guild_id, character, caller=caller)
        options_only = (
            avatar is not None
            or avatar_url is not None
            or nsfw is not None
            or examples is not None
            or talkativeness is not None
        )
        with_form = form is True or (form is None and not options_only)
        too_long = too_long_for_form(current) if with_form else None
        if too_long is not None:
            raise InvalidInput(
                f"{current.name}'s {too_long.label} is longer than a Discord "
                "form can hold. Export it (`/character export`), edit the card, and bring it "
                f"back with `/character import replace:{current.name}`; the options of this "
                "command (avatar, nsfw, examples) still work."
            )
        pending = pending_avatar(interaction, avatar, avatar_url)
        draft = replace(
            CharacterDraft.of(current),
            nsfw=current.nsfw if nsfw is None else nsfw,
            example_mode=current.example_mode if examples is None else ExampleMode(examples),
            talkativeness=current.talkativeness if talkativeness is None else talkativeness,
        )

        async def save(inter: discord.Interaction[Any], new: CharacterDraft) -> None:
            png, note = await saved_avatar(pending, inter, form_filled=with_form)
            updated = await in_time(
                inter,
                core.characters.update(current.id, new, caller=caller, avatar_png=png),
                ephemeral=True,
            )
            await reply_ephemeral(inter, f"**{updated.name}** was updated. {note}".strip())

        if not with_form:
            await save(interaction, draft)
            return
        await interaction.response.send_modal(
            CharacterModal(
                Opener.of(interaction), title=f"Edit {current.name}", draft=draft, on_submit=save
            )
        )

    @app_commands.command()
    @app_commands.autocomplete(character=character_autocomplete)
    @app_commands.describe(character="The character to show")
    async def show(
        self, interaction: discord.Interaction[Any], character: app_commands.Range[str, 1, MAX_NAME]
    ) -> None:
        """Show a character's card."""
        core = core_of(interaction)
        found = await core.characters.find(require_guild(interaction), character)
        avatar = await core.characters.avatar(found.id) if found.has_avatar else None
        files = [discord.File(io.BytesIO(avatar), filename="avatar.png")] if avatar else []
        await interaction.response.send_message(
            embed=character_embed(found, with_avatar=bool(avatar)),
            files=files,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="list")
    async def list_(self, interaction: discord.Interaction[Any]) -> None:
        """List this server's characters."""
        core = core_of(interaction)
        guild_id = require_guild(interaction)
        characters = await core.characters.in_guild(guild_id, limit=500)
        if not characters:
            await reply_ephemeral(
                interaction, "No characters yet. Create one with `/character create`."
            )
            return
        pages = []
        for start in range(0, len(characters), PAGE_SIZE):
            chunk = characters[start : start + PAGE_SIZE]
            embed = Embed(title=f"Characters ({len(characters)})")
            embed.description = "\n".join(
                f"**{c.name}**{' (NSFW)' if c.nsfw else ''}: {c.persona[:80]}" for c in chunk
            )
            embed.set_footer(
                text=f"Page {start // PAGE_SIZE + 1} of {-(-len(characters) // PAGE_SIZE)}"
            )
            pages.append(embed)
        view = ListPages(pages, Opener.of(interaction)) if len(pages) > 1 else discord.utils.MISSING
        await interaction.response.send_message(
            embed=pages[0], view=view, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command()
    @app_commands.autocomplete(character=character_autocomplete)
    @app_commands.describe(character="The character to delete")
    async def delete(
        self, interaction: discord.Interaction[Any], character: app_commands.Range[str, 1, MAX_NAME]
    ) -> None:
        """Delete a character and its roleplay history (its creator or an admin)."""
        core = core_of(interaction)
        caller = caller_of(interaction)
        found = await core.characters.find_changeable(
            require_guild(interaction), character, caller=caller
        )
        view = Confirm(Opener.of(interaction), f"Delete {found.name}")
        await interaction.response.send_message(
            f"Delete **{found.name}** and every roleplay history with it? This cannot be undone.",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        if await view.wait() or not view.confirmed:
            return
        deleted = await core.characters.delete(found.id, caller=caller)
        await interaction.edit_original_response(
            content=f"**{deleted.name}** was deleted.", view=None, allowed_mentions=NO_MENTIONS
        )
