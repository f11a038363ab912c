"""/character: create, edit, show, list and delete the server's characters."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.characters.avatar_fetch import AvatarFetcher
from bot.characters.service import MAX_NAME, CharacterDraft
from bot.common.images import normalize_avatar
from bot.errors import GalateaError, InvalidInput
from bot.policy import check_can_change_character, check_can_create_characters
from bot.values import Character, ExampleMode
from cogs.common import (
    NO_MENTIONS,
    Confirm,
    caller_of,
    character_autocomplete,
    core_of,
    read_attachment,
    reply_ephemeral,
    require_guild,
)
from cogs.deadline import in_time
from cogs.embeds import Embed
from cogs.forms import Opener, OwnedModal, OwnedView

log = logging.getLogger(__name__)

PAGE_SIZE = 10
# What the form's fields hold at most (Discord's limit for one text input is 4,000).
FORM_LIMITS = {"persona": 4000, "greeting": 2000, "scenario": 1000, "example_dialogue": 4000}


class CharacterModal(OwnedModal):
    """The long fields, which slash-command options cannot hold (no line breaks there).

    Each opened form has an id of its own, and only its opener, in the server where it was
    opened, can submit it (see cogs/forms.py)."""

    def __init__(
        self, opener: Opener, *, title: str, draft: CharacterDraft, on_submit: Any
    ) -> None:
        super().__init__(opener, kind="character", title=title, timeout=900)
        self._on_submit = on_submit
        self._draft = draft  # what the form does not show (card fields, flags) stays as is
        self.name_input = discord.ui.TextInput(
            label="Name", custom_id="name", default=draft.name, max_length=MAX_NAME
        )
        self.persona_input = discord.ui.TextInput(
            label="Persona",
            custom_id="persona",
            style=discord.TextStyle.paragraph,
            default=draft.persona or None,
            placeholder="Who they are, how they talk. {{char}} and {{user}} work here.",
            max_length=FORM_LIMITS["persona"],
        )
        self.greeting_input = discord.ui.TextInput(
            label="Greeting (first message)",
            custom_id="greeting",
            style=discord.TextStyle.paragraph,
            default=draft.greeting or None,
            required=False,
            max_length=FORM_LIMITS["greeting"],
        )
        self.scenario_input = discord.ui.TextInput(
            label="Scenario",
            custom_id="scenario",
            style=discord.TextStyle.paragraph,
            default=draft.scenario or None,
            required=False,
            max_length=FORM_LIMITS["scenario"],
        )
        self.examples_input = discord.ui.TextInput(
            label="Example dialogue",
            custom_id="examples",
            style=discord.TextStyle.paragraph,
            default=draft.example_dialogue or None,
            placeholder="<START>\n{{user}}: Hi!\n{{char}}: Hello there!",
            required=False,
            max_length=FORM_LIMITS["example_dialogue"],
        )
        for field in (
            self.name_input,
            self.persona_input,
            self.greeting_input,
            self.scenario_input,
            self.examples_input,
        ):
            self.add_item(field)

    def draft(self) -> CharacterDraft:
        return replace(
            self._draft,
            name=self.name_input.value,
            persona=self.persona_input.value,
            greeting=self.greeting_input.value,
            scenario=self.scenario_input.value,
            example_dialogue=self.examples_input.value,
        )

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await self._on_submit(interaction, self.draft())

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:
        await interaction.client.tree.on_error(interaction, error)  # type: ignore[attr-defined]


def character_embed(character: Character, *, with_avatar: bool) -> discord.Embed:
    embed = Embed(title=character.name, description=character.persona)
    if character.scenario:
        embed.add_field(name="Scenario", value=character.scenario, inline=False)
    if character.greeting:
        embed.add_field(name="Greeting", value=character.greeting, inline=False)
    if character.alternate_greetings:
        embed.add_field(
            name="Other greetings", value=f"{len(character.alternate_greetings)} to swipe through"
        )
    if character.example_mode is not ExampleMode.GRADUAL:
        embed.add_field(name="Example dialogue", value=character.example_mode.value)
    embed.add_field(name="Creator", value=f"<@{character.owner_id}>")
    if character.nsfw:
        embed.add_field(name="NSFW", value="Plays only in age-restricted channels")
    if with_avatar:
        embed.set_thumbnail(url="attachment://avatar.png")
    return embed


class ListPages(OwnedView):
    def __init__(self, pages: list[discord.Embed], opener: Opener) -> None:
        super().__init__(opener, timeout=300)
        self.pages, self.index = pages, 0
        self._sync()

    def _sync(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1

    @discord.ui.button(label="◀", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction[Any], _: Any) -> None:
        self.index = max(0, self.index - 1)
        self._sync()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)

    @discord.ui.button(label="▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction[Any], _: Any) -> None:
        self.index = min(len(self.pages) - 1, self.index + 1)
        self._sync()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)


class PendingAvatar:
    """An avatar (a link, or an upload), fetched and checked from the moment the command runs
    until the character is saved.

    A site, or Discord's file server, may take longer than the 3 seconds Discord waits for a
    first answer, and a form, when there is one, is filled in meanwhile.
    """

    def __init__(self, work: Coroutine[Any, Any, bytes], *, note: str, think_first: bool) -> None:
        self._task = asyncio.create_task(work)
        self._task.add_done_callback(_retrieve)  # a form never sent leaves nobody awaiting it
        self._note, self._think_first = note, think_first

    async def result(
        self, interaction: discord.Interaction[Any], *, form_filled: bool
    ) -> tuple[bytes | None, str]:
        """The PNG and a line for the user, answering "thinking" first when it takes long (a
        link: always). A refusal is raised, unless a form was filled in: its texts are saved
        without the avatar rather than lost."""
        if self._think_first and not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            return await in_time(interaction, self._task, ephemeral=True), self._note
        except InvalidInput as refusal:
            if not form_filled:
                raise
            return None, f"{refusal.user_message} The rest was saved without a new avatar."


def _retrieve(task: asyncio.Task[bytes]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None and not isinstance(error, GalateaError):
        log.error("Fetching an avatar failed", exc_info=error)


def pending_avatar(
    interaction: discord.Interaction[Any], attachment: discord.Attachment | None, link: str | None
) -> PendingAvatar | None:
    if attachment is not None and link is not None:
        raise InvalidInput("Give the avatar as an uploaded image or as a link, not both.")
    if link is not None:
        fetcher: AvatarFetcher = core_of(interaction).avatar_fetcher
        return PendingAvatar(
            fetcher.fetch_png(link), note="The avatar was fetched from the link.", think_first=True
        )
    if attachment is not None:
        return PendingAvatar(_uploaded_avatar(attachment), note="", think_first=False)
    return None


async def _uploaded_avatar(attachment: discord.Attachment) -> bytes:
    data = await read_attachment(attachment)
    return await asyncio.to_thread(normalize_avatar, data)


async def _saved_avatar(
    avatar: PendingAvatar | None, interaction: discord.Interaction[Any], *, form_filled: bool
) -> tuple[bytes | None, str]:
    if avatar is None:
        return None, ""
    return await avatar.result(interaction, form_filled=form_filled)


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
        check_can_create_characters(await core.guild_config.get(guild_id), caller_of(interaction))
        pending = pending_avatar(interaction, avatar, avatar_url)

        async def save(inter: discord.Interaction[Any], draft: CharacterDraft) -> None:
            png, note = await _saved_avatar(pending, inter, form_filled=not persona)
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
        current = await core.characters.find(guild_id, character)
        caller = caller_of(interaction)

        check_can_change_character(current, caller)
        options_only = (
            avatar is not None
            or avatar_url is not None
            or nsfw is not None
            or examples is not None
            or talkativeness is not None
        )
        with_form = form is True or (form is None and not options_only)
        too_long = [f for f, limit in FORM_LIMITS.items() if len(getattr(current, f)) > limit]
        if with_form and too_long:
            raise InvalidInput(
                f"{current.name}'s {too_long[0].replace('_', ' ')} is longer than a Discord "
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
            png, note = await _saved_avatar(pending, inter, form_filled=with_form)
            updated = await in_time(
                inter,
                core.characters.update(current.id, caller, new, avatar_png=png),
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
        found = await core.characters.find(require_guild(interaction), character)
        caller = caller_of(interaction)

        check_can_change_character(found, caller)
        view = Confirm(Opener.of(interaction), f"Delete {found.name}")
        await interaction.response.send_message(
            f"Delete **{found.name}** and every roleplay history with it? This cannot be undone.",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        if await view.wait() or not view.confirmed:
            return
        deleted = await core.characters.delete(found.id, caller)
        await interaction.edit_original_response(
            content=f"**{deleted.name}** was deleted.", view=None, allowed_mentions=NO_MENTIONS
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(CharacterCog(bot))
