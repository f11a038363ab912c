"""/session: start, stop, reset, status and export a channel's roleplay."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.characters.service import MAX_NAME
from bot.errors import InvalidInput, NotFound
from bot.lore.service import MAX_WORLD_NAME
from bot.roleplay.sessions import SessionView
from cogs.common import (
    NO_MENTIONS,
    Confirm,
    caller_of,
    character_autocomplete,
    core_of,
    place_of,
    reply_ephemeral,
    require_guild,
    world_autocomplete,
)
from cogs.deadline import in_time, respond
from cogs.embeds import Embed, listing
from cogs.forms import Opener
from cogs.uploads import TooLargeToUpload, Upload, batches, fit_uploads_off_loop, mib

if TYPE_CHECKING:
    from cogs.client import GalateaBot
    from cogs.roleplay import RoleplayCog


@app_commands.guild_only()
class SessionCog(commands.GroupCog, group_name="session", group_description="Roleplay sessions"):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @property
    def roleplay(self) -> RoleplayCog:
        return cast("GalateaBot", self.bot).roleplay_cog

    @app_commands.command()
    @app_commands.describe(
        character="Who plays in this channel",
        thread="Open a new thread for this roleplay instead of using this channel",
    )
    @app_commands.autocomplete(character=character_autocomplete)
    async def start(
        self,
        interaction: discord.Interaction[Any],
        character: app_commands.Range[str, 1, MAX_NAME],
        thread: bool = False,
    ) -> None:
        """Start a roleplay with a character here (or in a new thread)."""
        core = core_of(interaction)
        guild_id = require_guild(interaction)
        caller = caller_of(interaction)
        channel = interaction.channel
        if channel is None:
            raise InvalidInput("This command works in a server channel.")
        place = place_of(channel, guild_id)
        found = await core.characters.find(guild_id, character)
        sessions = core.engine.sessions
        await sessions.check_start(place, found, caller=caller)  # before any thread opens
        await interaction.response.defer(thinking=True)
        target: Any = channel
        if thread:
            if not isinstance(channel, discord.TextChannel):
                raise InvalidInput("New threads can be opened from a text channel only.")
            target = await channel.create_thread(
                name=f"Roleplay with {found.name}"[:100],
                type=discord.ChannelType.public_thread,
                auto_archive_duration=1440,
            )
        await self.roleplay.stop_channel(target.id)
        # The rules were checked where the command ran (a new thread's channel).
        _session, greeting = await sessions.start(
            replace(place, channel_id=target.id), found.id, caller=caller
        )
        config = await core.guild_config.get(guild_id)
        where = "here" if target is channel else target.mention
        await interaction.followup.send(
            f"**{found.name}** joins the roleplay {where}. Messages starting with "
            f"`{config.ooc_prefix}` or wrapped in `((…))` are out of character.",
            allowed_mentions=NO_MENTIONS,
        )
        if greeting is not None:
            await self.roleplay.post_character_message(target, found, greeting)

    @app_commands.command()
    async def stop(self, interaction: discord.Interaction[Any]) -> None:
        """End the roleplay in this channel (the history is kept)."""
        core = core_of(interaction)
        caller = caller_of(interaction)
        view = await self._changeable(interaction)  # refused before anything stops

        async def stop() -> None:  # a reply must first stop evaluating its prompt
            await self.roleplay.stop_channel(view.session.channel_id)
            await core.engine.sessions.stop(view.session.channel_id, caller=caller)

        await in_time(interaction, stop(), ephemeral=False)
        if interaction.channel is not None:
            self.roleplay.session_ended(interaction.channel)  # its webhooks, its memory
        await respond(
            interaction,
            f"**{view.character.name}** leaves the roleplay. `/session start` begins a new one.",
            ephemeral=False,
        )

    @app_commands.command()
    async def reset(self, interaction: discord.Interaction[Any]) -> None:
        """Clear this channel's roleplay history and start over with the greeting."""
        core = core_of(interaction)
        caller = caller_of(interaction)
        view = await self._changeable(interaction, count_messages=True)  # before anything stops
        confirm = Confirm(Opener.of(interaction), "Clear the history")
        await interaction.response.send_message(
            f"Clear all {view.message_count} messages of this roleplay with "
            f"**{view.character.name}**? The character forgets them for good.",
            view=confirm,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        if await confirm.wait() or not confirm.confirmed:
            return
        await self.roleplay.stop_channel(view.session.channel_id)
        _removed, greeting = await core.engine.sessions.reset(
            view.session.id, caller=caller, greet_as=caller.display_name
        )
        await interaction.edit_original_response(content="The history was cleared.", view=None)
        channel = interaction.channel
        if greeting is not None and channel is not None:
            await self.roleplay.post_character_message(channel, view.character, greeting)

    @app_commands.command()
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        """What plays here: character, model, history size, queue."""
        core = core_of(interaction)
        view = await self._active(interaction)
        # Counting tokens waits for the model thread, busy while a reply is written.
        status = await in_time(interaction, core.engine.status(view), ephemeral=True)
        embed = Embed(title=f"Roleplay with {view.character.name}")
        if len(view.cast) > 1:
            embed.add_field(name="Characters", value=listing([m.character.name for m in view.cast]))
        if view.session.paused:
            embed.add_field(name="Paused", value="messages are kept; `/session resume`")
        embed.add_field(name="Model", value=f"{status.model_name} ({status.backend_name})")
        embed.add_field(name="Prompt format", value=status.prompt_format.value)
        embed.add_field(name="Messages stored", value=str(view.message_count))
        embed.add_field(
            name="In the prompt window",
            value=f"{status.turns_in_prompt} messages, {status.prompt_tokens} of "
            f"{status.context_length} tokens",
        )
        if status.lore_entries:
            embed.add_field(name="Lore in the prompt", value=f"{status.lore_entries} entries")
        if view.session.author_note:
            embed.add_field(name="Author's note", value=view.session.author_note)
        busy = core.roleplay.busy(view.session.channel_id)
        position = status.queue_position
        state = f"{position} in the queue" if position else ("being written" if busy else "idle")
        embed.add_field(name="Reply", value=state)
        resident = status.context_resident
        if resident is not None:
            kept = "kept: the next reply reads only what is new" if resident else "not kept"
            embed.add_field(name="Model context", value=kept)
        embed.add_field(
            name="Replies shown through",
            value=await self.roleplay.delivery_mode(interaction.channel),
        )
        await respond(interaction, embed=embed, ephemeral=True)

    @app_commands.command()
    async def export(self, interaction: discord.Interaction[Any]) -> None:
        """Download this channel's roleplay history as text and JSON."""
        core = core_of(interaction)
        view = await self._active(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        text, data = await core.engine.history.export(view.session.id)
        stem = f"roleplay-{view.character.name}-{view.session.id}".replace(" ", "_")
        said = f"{view.message_count} messages with **{view.character.name}**."
        limit = interaction.filesize_limit  # the attachment_size_limit Discord announced
        exported = [Upload(f"{stem}.txt", text.encode()), Upload(f"{stem}.json", data.encode())]
        try:
            files, changed = await fit_uploads_off_loop(exported, limit)
        except TooLargeToUpload:
            size = sum(len(f.data) for f in exported)
            raise InvalidInput(
                f"This roleplay's history ({mib(size)}) is too large to upload here, even "
                f"compressed and in parts (limit {mib(limit)} a file)."
            ) from None
        if changed:
            said += (
                f" Over this server's upload limit of {mib(limit)} a file: compressed (.gz), "
                "or cut into numbered parts to join in order."
            )
        for index, batch in enumerate(batches(files)):
            await interaction.followup.send(
                said if index == 0 else "(continued)",
                files=batch,
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )

    @app_commands.command()
    @app_commands.describe(
        name="The server world whose lore joins this roleplay; empty detaches it"
    )
    @app_commands.autocomplete(name=world_autocomplete)
    async def world(
        self,
        interaction: discord.Interaction[Any],
        name: app_commands.Range[str, 1, MAX_WORLD_NAME] | None = None,
    ) -> None:
        """Attach a server world (a lorebook made with /lore) to this roleplay, or detach it."""
        core = core_of(interaction)
        caller = caller_of(interaction)
        view = await self._changeable(interaction)  # refused before anything stops
        world = await in_time(
            interaction,
            core.lore.attach_world(view.session.id, name, caller=caller),
            ephemeral=False,
        )
        await respond(
            interaction,
            f"The world **{world.name}** now shapes this roleplay with **{view.character.name}**."
            if world is not None
            else "This roleplay no longer uses a world.",
            ephemeral=False,
        )

    @app_commands.command()
    @app_commands.describe(
        text="What the character should keep in mind (leave empty to remove the note)",
        depth="How many of the latest messages come after the note (0: just before the reply)",
    )
    async def note(
        self,
        interaction: discord.Interaction[Any],
        text: app_commands.Range[str, 1, 2000] | None = None,
        depth: app_commands.Range[int, 0, 100] = 4,
    ) -> None:
        """Set this roleplay's author's note: a standing instruction near the end of the prompt."""
        core = core_of(interaction)
        caller = caller_of(interaction)
        view = await self._changeable(interaction)  # refused before anything stops
        await in_time(
            interaction,
            core.engine.sessions.set_author_note(view.session.id, text or "", depth, caller=caller),
            ephemeral=True,
        )
        await reply_ephemeral(
            interaction,
            f"Author's note set; it goes before the last {depth} messages."
            if text
            else "The author's note was removed.",
        )

    @app_commands.command()
    @app_commands.describe(
        character="Who joins the scene",
        full_history="Let them know everything said before they joined (default: only what "
        "happens from now on)",
    )
    @app_commands.autocomplete(character=character_autocomplete)
    async def add(
        self,
        interaction: discord.Interaction[Any],
        character: app_commands.Range[str, 1, MAX_NAME],
        full_history: bool = False,
    ) -> None:
        """Bring another character into this roleplay; everyone can then talk with both."""
        core = core_of(interaction)
        caller = caller_of(interaction)
        view = await self._changeable(interaction)  # refused before anything stops
        guild_id = require_guild(interaction)
        config = await core.guild_config.get(guild_id)
        found = await core.characters.find(guild_id, character)
        cast = await in_time(
            interaction,
            core.cast.add(
                view.session.id,
                found,
                added_by=interaction.user.id,
                max_characters=config.max_characters,
                full_history=full_history,
                caller=caller,
                place=place_of(interaction.channel, guild_id),
            ),
            ephemeral=False,
        )
        names = ", ".join(f"**{m.character.name}**" for m in cast)
        knows = "everything said so far" if full_history else "only what is said from now on"
        await respond(
            interaction,
            f"**{found.name}** joins the scene and knows {knows}. In the scene: {names}. "
            "Name a character to have them answer.",
            ephemeral=False,
        )

    @app_commands.command()
    @app_commands.describe(character="Who leaves the scene")
    @app_commands.autocomplete(character=character_autocomplete)
    async def remove(
        self, interaction: discord.Interaction[Any], character: app_commands.Range[str, 1, MAX_NAME]
    ) -> None:
        """Have a character leave this roleplay (what they said stays in the story)."""
        core = core_of(interaction)
        caller = caller_of(interaction)
        view = await self._changeable(interaction)  # refused before anything stops
        found = await core.characters.find(require_guild(interaction), character)
        cast = await in_time(
            interaction, core.cast.remove(view.session.id, found, caller=caller), ephemeral=False
        )
        names = ", ".join(f"**{m.character.name}**" for m in cast)
        await respond(
            interaction, f"**{found.name}** leaves the scene. Still here: {names}.", ephemeral=False
        )

    @app_commands.command()
    async def pause(self, interaction: discord.Interaction[Any]) -> None:
        """Pause the characters: messages still join the story, but nobody answers."""
        await self._set_paused(interaction, True)

    @app_commands.command()
    async def resume(self, interaction: discord.Interaction[Any]) -> None:
        """Let the characters answer again after `/session pause`."""
        await self._set_paused(interaction, False)

    async def _set_paused(self, interaction: discord.Interaction[Any], paused: bool) -> None:
        core = core_of(interaction)
        caller = caller_of(interaction)
        view = await self._changeable(interaction)  # refused before anything stops
        if view.session.paused == paused:
            await reply_ephemeral(
                interaction,
                "This roleplay is already paused; `/session resume` lets the characters answer."
                if paused
                else "This roleplay is not paused; `/session pause` holds the characters' replies.",
            )
            return

        async def change() -> None:  # a reply must first stop evaluating its prompt
            if paused:
                await self.roleplay.stop_channel(view.session.channel_id)
            await core.cast.set_paused(view.session.id, paused, caller=caller)

        await in_time(interaction, change(), ephemeral=False)
        await respond(
            interaction,
            "⏸️ The roleplay is paused: messages are kept, the characters wait for "
            "`/session resume`."
            if paused
            else "▶️ The roleplay goes on: the characters answer again.",
            ephemeral=False,
        )

    async def _active(self, interaction: discord.Interaction[Any]) -> SessionView:
        require_guild(interaction)
        view = await core_of(interaction).engine.sessions.active(
            interaction.channel_id or 0, count_messages=True
        )
        if view is None:
            raise NotFound("No roleplay is running here. Start one with `/session start`.")
        return view

    async def _changeable(
        self, interaction: discord.Interaction[Any], *, count_messages: bool = False
    ) -> SessionView:
        """The running roleplay, when the member may change it (the core says who may)."""
        require_guild(interaction)
        return await core_of(interaction).engine.sessions.for_change(
            interaction.channel_id or 0,
            caller=caller_of(interaction),
            count_messages=count_messages,
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(SessionCog(bot))
