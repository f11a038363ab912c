"""/memory: what the characters of this channel's roleplay remember beyond their window.

``show`` lists the summaries and pinned facts (only to the caller); ``pin`` and ``unpin`` are
said in the channel, since they change everyone's story; ``edit`` opens a form with a
character's summary that only its opener can submit; ``off`` and ``on`` switch memory for the
roleplay. Who may do what is the core's rule (bot/memory/service.py). Mentions never ping.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.characters.service import MAX_NAME
from bot.errors import NotFound
from bot.policy import check_session_rights
from cogs.common import (
    NO_MENTIONS,
    caller_of,
    character_autocomplete,
    core_of,
    reply_ephemeral,
)
from cogs.deadline import in_time, respond
from cogs.embeds import Embed, clip
from cogs.forms import Opener, OwnedModal

MAX_PIN = 200  # bot/memory/service.py: MAX_PIN_CHARS
MAX_SUMMARY = 1500  # bot/memory/prompts.py: MAX_SUMMARY_CHARS
NO_SESSION = "There is no roleplay in this channel; `/session start` begins one."


async def _session(interaction: discord.Interaction[Any]) -> Any:
    channel_id = interaction.channel_id
    view = await core_of(interaction).engine.sessions.active(channel_id) if channel_id else None
    if view is None:
        raise NotFound(NO_SESSION)
    return view


def _character_id(view: Any, name: str | None) -> tuple[int, str]:
    if not name:
        return view.character.id, view.character.name
    for member in view.cast or ():
        if member.character.name.casefold() == name.casefold():
            return member.character.id, member.character.name
    raise NotFound(f"{name} is not in this roleplay.")


class SummaryModal(OwnedModal):
    """A character's summary, to rewrite; only whoever opened the form can submit it."""

    def __init__(self, opener: Opener, *, name: str, text: str, on_submit: Any) -> None:
        super().__init__(opener, kind="memory", title=f"What {name} remembers", timeout=900)
        self._on_submit = on_submit
        self.summary: discord.ui.TextInput[SummaryModal] = discord.ui.TextInput(
            label="Summary of the story so far",
            custom_id="summary",
            style=discord.TextStyle.paragraph,
            default=text[:MAX_SUMMARY] or None,
            required=False,
            max_length=MAX_SUMMARY,
        )
        self.add_item(self.summary)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await self._on_submit(interaction, self.summary.value)


@app_commands.guild_only()
class MemoryCog(
    commands.GroupCog, group_name="memory", group_description="What the characters remember"
):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command()
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        """Show what the characters here remember: summaries and pinned facts."""
        view = await _session(interaction)
        memory = await core_of(interaction).memory.show(view.session.id)
        names = {m.character.id: m.character.name for m in view.cast or ()}
        names.setdefault(view.character.id, view.character.name)
        embed = Embed(
            title="Memory" + ("" if memory.enabled else " (off: `/memory on` switches it on)"),
        )
        for summary in memory.summaries:
            name = names.get(summary.character_id, "A character who left")
            embed.add_field(name=f"{name} remembers", value=summary.text or "—", inline=False)
        pins = "\n".join(f"{i}. {clip(p.text, 200)}" for i, p in enumerate(memory.pins, 1))
        embed.add_field(name="Pinned facts", value=pins or "None yet: `/memory pin`.")
        if not memory.summaries:
            embed.description = "No summary yet: it is written when old lines leave the window."
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command()
    @app_commands.describe(text="A fact the characters must never forget")
    async def pin(
        self, interaction: discord.Interaction[Any], text: app_commands.Range[str, 1, MAX_PIN]
    ) -> None:
        """Pin a fact: it stays in every prompt of this roleplay."""
        view = await _session(interaction)
        pin = await in_time(
            interaction,
            core_of(interaction).memory.pin(view.session.id, text, caller=caller_of(interaction)),
            ephemeral=False,
        )
        await respond(interaction, f"📌 Pinned: {pin.text}", ephemeral=False)

    @app_commands.command()
    @app_commands.describe(number="The fact's number in `/memory show`")
    async def unpin(
        self, interaction: discord.Interaction[Any], number: app_commands.Range[int, 1, 100]
    ) -> None:
        """Unpin a fact (yours, or any if you started the roleplay or are an admin)."""
        view = await _session(interaction)
        pin = await core_of(interaction).memory.unpin(
            view.session.id, number, caller=caller_of(interaction)
        )
        await respond(interaction, f"Unpinned: {pin.text}", ephemeral=False)

    @app_commands.command()
    @app_commands.describe(character="Whose summary (default: the roleplay's first character)")
    @app_commands.autocomplete(character=character_autocomplete)
    async def edit(
        self,
        interaction: discord.Interaction[Any],
        character: app_commands.Range[str, 1, MAX_NAME] | None = None,
    ) -> None:
        """Rewrite a character's summary of the story (whoever started it, or an admin)."""
        core = core_of(interaction)
        view = await _session(interaction)
        character_id, name = _character_id(view, character)
        caller = caller_of(interaction)
        memory = await core.memory.show(view.session.id)
        current = next((s.text for s in memory.summaries if s.character_id == character_id), "")

        async def submitted(modal_interaction: discord.Interaction[Any], text: str) -> None:
            await core.memory.edit(view.session.id, character_id, text, caller=caller)
            await reply_ephemeral(modal_interaction, f"{name}'s summary was updated.")

        check_session_rights(caller, view.session)  # the form opens only for those allowed
        await interaction.response.send_modal(
            SummaryModal(Opener.of(interaction), name=name, text=current, on_submit=submitted)
        )

    @app_commands.command()
    async def off(self, interaction: discord.Interaction[Any]) -> None:
        """Switch memory off for this roleplay: prompts hold only the recent window."""
        await self._switch(interaction, False)

    @app_commands.command()
    async def on(self, interaction: discord.Interaction[Any]) -> None:
        """Switch memory back on for this roleplay."""
        await self._switch(interaction, True)

    async def _switch(self, interaction: discord.Interaction[Any], enabled: bool) -> None:
        view = await _session(interaction)
        await core_of(interaction).memory.set_enabled(
            view.session.id, enabled, caller=caller_of(interaction)
        )
        said = "on: the characters remember" if enabled else "off: only the recent lines count"
        await respond(interaction, f"Memory is {said}.", ephemeral=False)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(MemoryCog(bot))
