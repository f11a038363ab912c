"""/character: create, edit, show, list and delete the server's characters (cogs.cards adds
import and export to the group).

- ``_form``: the Discord form with a character's long texts, built from the field specs;
- ``_avatar``: an avatar given as an upload or a link, fetched while the form is filled in;
- ``_views``: a character's embed, and the pages of the list;
- ``_cog``: the commands.

The rules (who may create or change a character) live in bot.policy and are enforced by
bot.characters.service; this package only shows them on Discord.
"""

from __future__ import annotations

from discord.ext import commands

from cogs.characters._cog import CharacterCog
from cogs.characters._views import ListPages, character_embed

__all__ = ["CharacterCog", "ListPages", "character_embed", "setup"]


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(CharacterCog(bot))
