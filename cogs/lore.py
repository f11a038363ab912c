"""/lore: lorebooks (world info) of characters and of the server's worlds."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.characters.service import MAX_NAME
from bot.errors import InvalidInput, NotFound
from bot.lore.rules import is_before_char
from bot.lore.scan import Logic, selective_logic
from bot.lore.service import MAX_WORLD_NAME, BookRef, EntryDraft, split_keys
from bot.lore.world_file import WORLD_FILE_MAX_BYTES
from bot.values import Lorebook, StoredEntry
from cogs.characters import ListPages
from cogs.common import (
    NO_MENTIONS,
    Confirm,
    caller_of,
    character_autocomplete,
    core_of,
    read_attachment,
    reply_ephemeral,
    require_guild,
    world_autocomplete,
)
from cogs.deadline import in_time
from cogs.embeds import Embed, listing
from cogs.forms import Opener

PAGE_SIZE = 15
MAX_OPTION_TEXT = 6000  # Discord's limit for a text option
MAX_KEYS_TEXT = 2000  # comma-separated keys: room for dozens of them
LOGIC = {
    "and any": Logic.AND_ANY,
    "and all": Logic.AND_ALL,
    "not any": Logic.NOT_ANY,
    "not all": Logic.NOT_ALL,
}
LOGIC_NAMES = {value: name.upper() for name, value in LOGIC.items()}


def book_title(book: Lorebook, character_name: str | None = None) -> str:
    if book.name is not None:
        return f"world {book.name}"
    return f"{character_name}'s lorebook" if character_name else "a character's lorebook"


def entry_line(stored: StoredEntry) -> str:
    entry = stored.entry
    flags = [flag for flag, on in (("constant", entry.constant), ("off", not entry.enabled)) if on]
    keys = ", ".join(entry.keys)[:60] or "no keys"
    extra = f" ({', '.join(flags)})" if flags else ""
    return f"`#{stored.id}` **{stored.title}**: {keys}{extra}"


def entry_embed(book: Lorebook, stored: StoredEntry, character_name: str | None) -> discord.Embed:
    entry = stored.entry
    embed = Embed(title=f"#{stored.id} {stored.title}", description=entry.content)
    embed.add_field(name="In", value=book_title(book, character_name), inline=False)
    embed.add_field(name="Keys", value=listing([k for k in entry.keys if k.strip()]) or "none")
    if entry.secondary_keys:
        logic = LOGIC_NAMES[selective_logic(entry)]
        embed.add_field(
            name=f"Secondary keys ({logic})",
            value=listing([k for k in entry.secondary_keys if k.strip()]) or "none",
        )
    embed.add_field(name="Order", value=str(entry.insertion_order))
    embed.add_field(name="Position", value="before char" if is_before_char(entry) else "after char")
    embed.add_field(name="Always in the prompt", value="yes" if entry.constant else "no")
    if not entry.enabled:
        embed.add_field(name="Enabled", value="no")
    return embed


@app_commands.guild_only()
class LoreCog(
    commands.GroupCog,
    group_name="lore",
    group_description="Lorebooks: what characters know of their world",
):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command()
    @app_commands.describe(
        content="What goes into the prompt when the entry is active",
        keys="Words that bring it into the story, separated by commas",
        character="Add to this character's own lorebook (its creator or an admin)",
        world="Add to this server world; a new name creates it (admins)",
        secondary_keys="Further words, checked with `logic`, separated by commas",
        logic="How the secondary keys must match (default: and any)",
        constant="Always in the prompt, whatever is said",
        position="Before or after the character's persona",
        order="Lower comes first in the prompt; higher wins when the budget is short",
        case_sensitive="Match the keys' capital letters exactly",
        title="A name for the entry in lists",
    )
    @app_commands.autocomplete(character=character_autocomplete, world=world_autocomplete)
    async def add(
        self,
        interaction: discord.Interaction[Any],
        content: app_commands.Range[str, 1, MAX_OPTION_TEXT],
        keys: app_commands.Range[str, 1, MAX_KEYS_TEXT] | None = None,
        character: app_commands.Range[str, 1, MAX_NAME] | None = None,
        world: app_commands.Range[str, 1, MAX_WORLD_NAME] | None = None,
        secondary_keys: app_commands.Range[str, 1, MAX_KEYS_TEXT] | None = None,
        logic: Literal["and any", "and all", "not any", "not all"] = "and any",
        constant: bool = False,
        position: Literal["before", "after"] = "before",
        order: app_commands.Range[int, -100_000, 100_000] = 100,
        case_sensitive: bool = False,
        title: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        """Add an entry to a character's lorebook or to a server world."""
        core = core_of(interaction)
        draft = EntryDraft(
            content=content,
            keys=split_keys(keys),
            secondary_keys=split_keys(secondary_keys),
            logic=LOGIC[logic],
            constant=constant,
            position="before_char" if position == "before" else "after_char",
            order=order,
            case_sensitive=case_sensitive,
            title=title or "",
        )
        book, stored = await in_time(
            interaction,
            core.lore.add_entry(
                require_guild(interaction),
                BookRef(character=character, world=world),
                draft,
                caller=caller_of(interaction),
            ),
            ephemeral=True,
        )
        await reply_ephemeral(
            interaction,
            f"Added lore entry `#{stored.id}` to {book_title(book, character)}: "
            f"{entry_line(stored)}",
        )

    @app_commands.command(name="list")
    @app_commands.describe(
        character="List this character's lorebook",
        world="List this world's entries (leave both empty for the server's worlds)",
    )
    @app_commands.autocomplete(character=character_autocomplete, world=world_autocomplete)
    async def list_(
        self,
        interaction: discord.Interaction[Any],
        character: app_commands.Range[str, 1, MAX_NAME] | None = None,
        world: app_commands.Range[str, 1, MAX_WORLD_NAME] | None = None,
    ) -> None:
        """List a lorebook's entries, or the server's worlds."""
        core = core_of(interaction)
        guild_id = require_guild(interaction)
        if character is None and world is None:
            worlds = await core.lore.worlds(guild_id)
            if not worlds:
                await reply_ephemeral(
                    interaction, "This server has no worlds yet. `/lore add world:` creates one."
                )
                return
            lines = [f"**{w.name}**: {w.entries} entries" for w in worlds]
            await self._pages(interaction, f"Worlds ({len(worlds)})", lines)
            return
        book = await core.lore.book(guild_id, BookRef(character=character, world=world))
        if book is None and world is not None:
            raise InvalidInput(f"There is no world named {world!r} here.")
        stored = book.stored_entries() if book is not None else []
        if book is None or not stored:
            await reply_ephemeral(interaction, "No lore there yet. Add some with `/lore add`.")
            return
        title = book_title(book, character)
        await self._pages(interaction, f"{title[:1].upper()}{title[1:]}", map(entry_line, stored))

    @app_commands.command()
    @app_commands.describe(entry="The entry's number, as `/lore list` shows it")
    async def show(self, interaction: discord.Interaction[Any], entry: int) -> None:
        """Show one lore entry in full."""
        core = core_of(interaction)
        book, stored = await core.lore.entry(require_guild(interaction), entry)
        owner = await core.characters.get(book.character_id) if book.character_id else None
        await interaction.response.send_message(
            embed=entry_embed(book, stored, owner.name if owner else None),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command()
    @app_commands.describe(
        entry="The entry to remove, by its number from `/lore list`",
        world="Or: delete this whole world (admins)",
    )
    @app_commands.autocomplete(world=world_autocomplete)
    async def remove(
        self,
        interaction: discord.Interaction[Any],
        entry: int | None = None,
        world: app_commands.Range[str, 1, MAX_WORLD_NAME] | None = None,
    ) -> None:
        """Remove a lore entry, or a whole world."""
        core = core_of(interaction)
        guild_id = require_guild(interaction)
        caller = caller_of(interaction)
        if (entry is None) == (world is None):
            raise InvalidInput("Name an entry (its number from `/lore list`) or a world.")
        if entry is not None:
            removed = await in_time(
                interaction, core.lore.remove_entry(guild_id, entry, caller=caller), ephemeral=True
            )
            await reply_ephemeral(
                interaction, f"Removed lore entry `#{removed.id}` ({removed.title})."
            )
            return
        assert world is not None
        core.lore.check_can_manage_worlds(caller)  # refuse before asking to confirm
        names = await core.lore.world_names(guild_id)
        if world.strip().casefold() not in {n.casefold() for n in names}:
            raise NotFound(f"There is no world named {world.strip()!r} here.")
        confirm = Confirm(Opener.of(interaction), f"Delete {world}"[:80])
        await interaction.response.send_message(
            f"Delete the world **{world}** and all its entries? Roleplays using it go on "
            "without it.",
            view=confirm,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        if await confirm.wait() or not confirm.confirmed:
            return
        deleted = await core.lore.delete_world(guild_id, world, caller=caller)
        await interaction.edit_original_response(
            content=f"The world **{deleted.name}** was deleted.",
            view=None,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="import")
    @app_commands.describe(
        file="A SillyTavern world info JSON, or a chub / V3 lorebook JSON",
        world="The new world's name (default: the file's name)",
    )
    async def import_(
        self,
        interaction: discord.Interaction[Any],
        file: discord.Attachment,
        world: app_commands.Range[str, 1, MAX_WORLD_NAME] | None = None,
    ) -> None:
        """Import a world info file as a new server world (admins)."""
        core = core_of(interaction)
        guild_id = require_guild(interaction)
        caller = caller_of(interaction)
        core.lore.check_can_manage_worlds(caller)  # refuse before reading the file
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await read_attachment(file, limit=WORLD_FILE_MAX_BYTES)
        name = world or PurePath(file.filename).stem.replace("_", " ")[:MAX_WORLD_NAME]
        book, count = await core.lore.import_world(guild_id, name, data, caller=caller)
        await interaction.followup.send(
            f"The world **{book.name}** was imported with {count} entries. Attach it to a "
            f"roleplay with `/session world name:{book.name}`.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="export")
    @app_commands.describe(world="The server world to download")
    @app_commands.autocomplete(world=world_autocomplete)
    async def export(
        self,
        interaction: discord.Interaction[Any],
        world: app_commands.Range[str, 1, MAX_WORLD_NAME],
    ) -> None:
        """Download a server world as a SillyTavern world info file."""
        core = core_of(interaction)
        guild_id = require_guild(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        # The answer's file must fit what Discord accepts from this interaction.
        limit = min(interaction.filesize_limit, WORLD_FILE_MAX_BYTES)
        data, filename = await core.lore.export_world(guild_id, world, limit)
        await interaction.followup.send(
            f"**{world.strip()}** as a SillyTavern world info file.",
            file=discord.File(io.BytesIO(data), filename=filename),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def _pages(
        self, interaction: discord.Interaction[Any], title: str, items: Iterable[str]
    ) -> None:
        lines = list(items)
        pages: list[discord.Embed] = []
        for start in range(0, len(lines), PAGE_SIZE):
            embed = Embed(title=title, description="\n".join(lines[start : start + PAGE_SIZE]))
            embed.set_footer(text=f"Page {start // PAGE_SIZE + 1} of {-(-len(lines) // PAGE_SIZE)}")
            pages.append(embed)
        view = ListPages(pages, Opener.of(interaction)) if len(pages) > 1 else discord.utils.MISSING
        await interaction.response.send_message(
            embed=pages[0], view=view, ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(LoreCog(bot))
