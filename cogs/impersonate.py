"""/impersonate: the model drafts the caller's next line in their voice; a button posts it."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import GalateaError, InvalidInput, NotFound
from bot.roleplay.channel import IncomingMessage, Outcome
from cogs.common import NO_MENTIONS, core_of, place_of, require_guild
from cogs.deadline import token_time_left
from cogs.forms import Opener, OwnedView
from cogs.text import split_message

if TYPE_CHECKING:
    from cogs.client import GalateaBot

log = logging.getLogger(__name__)

DRAFT_TIMEOUT = 900.0  # seconds the Post button works


class PostDraft(OwnedView):
    """Post the drafted line as the member's own (only they, in that server, can press it)."""

    def __init__(self, cog: ImpersonateCog, opener: Opener, draft: str) -> None:
        super().__init__(opener, timeout=DRAFT_TIMEOUT)
        self._cog, self._draft = cog, draft

    @discord.ui.button(label="Post it", style=discord.ButtonStyle.primary)
    async def post(self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]) -> None:
        await interaction.response.edit_message(content="Posted.", view=None)
        self.stop()
        await self._cog.post_as_member(interaction, self._draft)


class ImpersonateCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command()
    @app_commands.guild_only()
    async def impersonate(self, interaction: discord.Interaction[Any]) -> None:
        """Let the model draft your next line in this roleplay, in your voice (only you see it)."""
        core = core_of(interaction)
        guild_id = require_guild(interaction)
        view = await core.engine.sessions.active(interaction.channel_id or 0)
        if view is None:
            raise NotFound("No roleplay is running here. Start one with `/session start`.")
        speaker = await core.personas.speaker_name(
            guild_id, interaction.user.id, interaction.user.display_name
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        replies = core.engine.replies
        params = replies.params_for(await core.guild_config.get(guild_id))
        try:  # the draft goes out with this interaction's token: only while it lives
            async with asyncio.timeout(token_time_left(interaction)):
                draft = await replies.impersonate(view.session.id, speaker, params=params)
        except TimeoutError:
            log.info(
                "An /impersonate draft in channel %d outlasted its token", view.session.channel_id
            )
            raise GalateaError(
                "The model is busy and the draft took too long for Discord to show it. "
                "Please run `/impersonate` again in a little while."
            ) from None
        await interaction.followup.send(
            f"A draft of your next line, as **{speaker}**:\n>>> {draft}"[:2000],
            view=PostDraft(self, Opener.of(interaction), draft),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def post_as_member(self, interaction: discord.Interaction[Any], text: str) -> None:
        """The bot cannot post as a member: the webhook shows their name and avatar, and the
        line joins the story as theirs (and draws the characters' replies like any other)."""
        bot = cast("GalateaBot", self.bot)
        roleplay = bot.roleplay_cog
        guild_id = require_guild(interaction)
        if interaction.channel_id is None:
            raise InvalidInput("This button works in a server channel.")
        channel = await roleplay.channel(interaction.channel_id)
        user = interaction.user
        delivery = await roleplay.deliveries.for_member(
            channel, user.display_name, user.display_avatar.url
        )
        # Plain messages start with "**Name**: ": split with room for it, never past 2,000.
        pieces = split_message(text, prefix=delivery.prefix) or [text.strip() or "…"]
        sent = await delivery.send(pieces[0])
        for piece in pieces[1:]:
            await delivery.send(piece)
        outcome = await bot.roleplay.handle(
            IncomingMessage(
                place=place_of(channel, guild_id),
                message_id=sent.id,
                author_id=user.id,
                author_name=user.display_name,
                content=text,
            )
        )
        log.info("Drafted line posted in channel %d: %s", channel.id, outcome)
        if outcome in (Outcome.CHANNEL_AT_LIMIT, Outcome.USER_AT_LIMIT):
            # Said to them alone: the button's answer ("Posted.") is already given.
            limit = (
                bot.roleplay.user_limit
                if outcome is Outcome.USER_AT_LIMIT
                else bot.roleplay.channel_limit
            )
            view = await bot.core.engine.sessions.active(channel.id)
            name = view.character.name if view is not None else "The character"
            await interaction.followup.send(
                f"⏳ {limit.note(name)}", ephemeral=True, allowed_mentions=NO_MENTIONS
            )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(ImpersonateCog(bot))
