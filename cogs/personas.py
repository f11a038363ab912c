"""/persona: the name a member is called by in roleplay on this server, and who they are."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs.common import caller_of, core_of, reply_ephemeral, require_guild
from cogs.deadline import in_time


@app_commands.guild_only()
class PersonaCog(
    commands.GroupCog, group_name="persona", group_description="Your roleplay persona"
):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="set")
    @app_commands.describe(
        name="What the characters call you (instead of your display name)",
        description="A short description the characters read, e.g. 'a tall knight'",
    )
    async def set_persona(
        self,
        interaction: discord.Interaction[Any],
        name: app_commands.Range[str, 1, 40],
        description: app_commands.Range[str, 0, 500] = "",
    ) -> None:
        """Set the name and description you roleplay with on this server."""
        persona = await in_time(
            interaction,
            core_of(interaction).personas.set(
                require_guild(interaction),
                interaction.user.id,
                name,
                description,
                caller=caller_of(interaction),
            ),
            ephemeral=True,
        )
        about = f" ({persona.description})" if persona.description else ""
        await reply_ephemeral(
            interaction,
            f"From your next message on, the characters know you as **{persona.name}**{about}.",
        )

    @app_commands.command()
    async def clear(self, interaction: discord.Interaction[Any]) -> None:
        """Forget your persona here: the characters use your display name again."""
        removed = await in_time(
            interaction,
            core_of(interaction).personas.clear(
                require_guild(interaction), interaction.user.id, caller=caller_of(interaction)
            ),
            ephemeral=True,
        )
        await reply_ephemeral(
            interaction,
            "Your persona was removed; the characters use your display name again."
            if removed
            else "You have no persona here; `/persona set` makes one.",
        )

    @app_commands.command()
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        """Show the persona you roleplay with on this server."""
        persona = await core_of(interaction).personas.get(
            require_guild(interaction), interaction.user.id
        )
        if persona is None:
            await reply_ephemeral(
                interaction,
                "You have no persona here, so the characters use your display name. "
                "`/persona set` makes one.",
            )
            return
        about = persona.description or "no description"
        await reply_ephemeral(interaction, f"You roleplay here as **{persona.name}**: {about}.")


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(PersonaCog(bot))
