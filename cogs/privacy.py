"""/forget: a member erases what Galatea stored about them on this server."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs.common import NO_MENTIONS, Confirm, caller_of, core_of, reply_ephemeral, require_guild
from cogs.deadline import in_time
from cogs.forms import Opener


def _report(messages: int, characters: int | None) -> str:
    text = f"Done: {messages:,} of your messages were erased from this server's roleplays"
    if characters is not None:
        text += f", and {characters:,} of your characters with their histories"
    # bot/members/privacy.py erases these every time (README, Privacy).
    return (
        text + ". Your persona, the author's notes you wrote and your id on sessions are gone too."
    )


@app_commands.guild_only()
class PrivacyCog(commands.GroupCog, group_name="forget", group_description="Erase your data"):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command()
    @app_commands.describe(
        characters="Also delete the characters you made here, with their roleplay histories",
    )
    async def me(self, interaction: discord.Interaction[Any], characters: bool = False) -> None:
        """Erase your messages in this server's roleplays (and, if asked, your characters).

        This cannot be undone."""
        core = core_of(interaction)
        guild_id = require_guild(interaction)
        caller = caller_of(interaction)
        user_id = caller.user_id
        if not characters:
            forgotten = await in_time(
                interaction, core.privacy.forget(guild_id, user_id, caller=caller), ephemeral=True
            )
            await reply_ephemeral(interaction, _report(forgotten.messages, None))
            return
        owned = await core.privacy.characters_of(guild_id, user_id)
        if not owned:
            forgotten = await in_time(
                interaction, core.privacy.forget(guild_id, user_id, caller=caller), ephemeral=True
            )
            await reply_ephemeral(
                interaction, _report(forgotten.messages, 0) + " You had no characters here."
            )
            return
        names = ", ".join(f"**{discord.utils.escape_markdown(c.name)}**" for c in owned[:10])
        more = f" and {len(owned) - 10} more" if len(owned) > 10 else ""
        view = Confirm(Opener.of(interaction), "Erase everything")
        await interaction.response.send_message(
            f"Erase your messages here and delete {names}{more}, with every roleplay history "
            "they had? This cannot be undone.",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        if await view.wait() or not view.confirmed:
            return
        forgotten = await core.privacy.forget(guild_id, user_id, caller=caller, characters=True)
        await interaction.edit_original_response(
            content=_report(forgotten.messages, forgotten.characters),
            view=None,
            allowed_mentions=NO_MENTIONS,
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(PrivacyCog(bot))
