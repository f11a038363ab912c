"""What the swipe buttons on the latest reply do: regenerate, continue, browse versions and
delete, streaming the new text into the same messages."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import GalateaError
from bot.values import Role
from cogs.common import core_of, reply_ephemeral
from cogs.deadline import token_time_left
from cogs.roleplay._presenter import EDIT_INTERVAL, streamed_text

if TYPE_CHECKING:
    from cogs.roleplay._cog import RoleplayCog

log = logging.getLogger(__name__)


async def answer_reply_button(
    cog: RoleplayCog, interaction: discord.Interaction[Any], action: str, session_id: int
) -> None:
    core = core_of(interaction)
    view = await core.engine.sessions.active(interaction.channel_id or 0)
    if view is None or view.session.id != session_id:
        await reply_ephemeral(interaction, "That roleplay has ended; these buttons do nothing now.")
        return
    latest = await core.engine.history.recent(session_id, limit=1)
    clicked = interaction.message.id if interaction.message else None
    if (
        not latest
        or clicked is None
        or latest[-1].role is not Role.CHARACTER
        or clicked != cog.display.latest_id(view.session.channel_id, latest[-1])
    ):
        await reply_ephemeral(interaction, "Only the character's latest reply can be changed.")
        return
    await interaction.response.defer()
    channel = await cog.channel(view.session.channel_id)
    speaker = latest[-1].character_id or view.session.character_id
    character = next((m.character for m in view.cast if m.character.id == speaker), view.character)
    view = replace(view, character=character)
    if interaction.message is not None and interaction.message.webhook_id is not None:
        cog.deliveries.remember(interaction.message.webhook_id, character.id)
    delivery = await cog.delivery(channel, character)
    first_id = latest[-1].discord_message_id or clicked
    config = await core.guild_config.get(view.session.guild_id)
    replies = core.engine.replies
    params = replies.params_for(config)
    last_edit = 0.0

    async def stream(text: str) -> None:
        nonlocal last_edit, first_id
        shown = streamed_text(text, delivery.prefix)
        if shown and cog.stream_replies and time.monotonic() - last_edit >= EDIT_INTERVAL:
            last_edit = time.monotonic()
            first_id = await delivery.edit(first_id, shown, None)

    try:
        if action == "regen":
            reply = await replies.regenerate(session_id, params=params, on_text=stream)
            message = reply.message
        elif action == "cont":
            reply = await replies.continue_reply(session_id, params=params, on_text=stream)
            message = reply.message
        elif action in ("prev", "next"):
            message = await replies.browse_versions(session_id, -1 if action == "prev" else 1)
        else:  # delete
            removed = await replies.delete_latest_reply(session_id)
            known = cog.display.latest_pieces.pop(view.session.channel_id, (0, []))[1]
            pieces = dict.fromkeys([*removed.discord_ids, *known]) or {first_id: None}
            for piece_id in pieces:  # the whole reply
                await cog.display.delete_piece(delivery, piece_id)
            cog.display.latest_reply.pop(view.session.channel_id, None)
            return
    except GalateaError as exc:
        if token_time_left(interaction) > 0:  # a long queue may outlast the token
            await reply_ephemeral(interaction, exc.user_message)
        else:
            log.info("A button's answer in channel %d outlasted its token", channel.id)
        return
    await cog.show_reply(delivery, view, message, first_id)
