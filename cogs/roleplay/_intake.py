"""A Discord message in: turned into the core's ``IncomingMessage``, and the short notes that
answer a message the core held (a reply limit) or could not store."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.roleplay.channel import NOT_STORED_NOTE, IncomingMessage, Outcome
from cogs.common import NO_MENTIONS, place_of
from cogs.delivery import Deliveries

if TYPE_CHECKING:
    from bot.app import Core

log = logging.getLogger(__name__)

HUMAN_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


def incoming(
    message: discord.Message, me: discord.ClientUser | None, deliveries: Deliveries
) -> IncomingMessage:
    assert message.guild is not None
    reference = message.reference
    reply_to = reference.message_id if reference is not None else None
    resolved = reference.resolved if reference is not None else None
    return IncomingMessage(
        place=place_of(message.channel, message.guild.id),
        message_id=message.id,
        author_id=message.author.id,
        author_name=message.author.display_name,
        content=message.clean_content,
        from_bot=message.author.bot,
        from_webhook=message.webhook_id is not None,
        is_system=message.type not in HUMAN_MESSAGE_TYPES,
        mentions_bot=me is not None and any(u.id == me.id for u in message.mentions),
        # Discord sends the message replied to; the store knows it when it does not.
        replies_to_character=isinstance(resolved, discord.Message)
        and deliveries.posted_by_us(resolved, me),
        reply_to_message_id=reply_to,
    )


async def answer_outcome(core: Core, message: discord.Message, outcome: Outcome) -> None:
    """Tell the channel what the core decided, when it is something people must know."""
    if outcome in (Outcome.CHANNEL_AT_LIMIT, Outcome.USER_AT_LIMIT):
        await _tell_held(core, message, outcome)
    elif outcome is Outcome.NOT_STORED:  # once a minute per channel (bot/ decides)
        try:
            await message.channel.send(f"⚠️ {NOT_STORED_NOTE}", allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("Could not post a storage note in channel %d (%s)", message.channel.id, exc)


async def _tell_held(core: Core, message: discord.Message, outcome: Outcome) -> None:
    """Say that a reply limit holds replies (bot/ returns this once a minute; no pings)."""
    view = await core.engine.sessions.active(message.channel.id)
    name = view.character.name if view is not None else "The character"
    try:
        if outcome is Outcome.USER_AT_LIMIT:  # an answer to them, so it names nobody
            await message.reply(
                f"⏳ {core.roleplay.user_limit.note(name)}",
                allowed_mentions=NO_MENTIONS,
                mention_author=False,
            )
        else:
            await message.channel.send(
                f"⏳ {core.roleplay.channel_limit.note(name)}", allowed_mentions=NO_MENTIONS
            )
    except discord.HTTPException as exc:
        log.warning("Could not post a reply-limit note in channel %d (%s)", message.channel.id, exc)
