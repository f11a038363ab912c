"""Channel roleplay on Discord: messages in, character replies out (streamed, through the
webhook), swipe buttons, and edits and deletions that follow into the history.

The runtime that decides who replies lives in the core (``Core.roleplay``); this package only
shows it on Discord:

- ``_presenter``: one reply as it grows (typing, a message edited about once a second);
- ``_display``: a finished reply, split past 2,000 characters, with its buttons;
- ``_intake``: a Discord message turned into the core's ``IncomingMessage``, and the notes
  that answer it;
- ``_buttons``: what the swipe buttons do;
- ``_cog``: the cog that wires them: listeners, start-up and shutdown.
"""

from __future__ import annotations

from discord.ext import commands

from cogs.reply_buttons import ReplyButton
from cogs.roleplay._cog import RoleplayCog
from cogs.roleplay._presenter import streamed_text

__all__ = ["RoleplayCog", "setup", "streamed_text"]


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(ReplyButton)
    await bot.add_cog(RoleplayCog(bot))
