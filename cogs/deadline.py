"""Discord's 3-second deadline for the first answer to an interaction.

Discord drops an interaction that gets no first answer within 3 seconds of being sent
(10062 Unknown interaction; "This interaction failed" for the member), even when the work it
asked for went through. Work that may wait on the model thread (token counts, a reply that
must stop first) or on the database (a write queued behind others) runs through
:func:`in_time`: when it is not done shortly before the deadline, the interaction is answered
"thinking" first and the real answer follows; :func:`respond` sends it either way.

The token then takes followups for 15 minutes; work that may outlast it (a draft waiting in
the model's queue) is bounded by :func:`token_time_left`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import discord

T = TypeVar("T")

DEFER_AFTER = 1.5  # seconds after Discord created the interaction; it waits 3 in all
TOKEN_LIFETIME = 15 * 60.0  # seconds an interaction token takes followups and edits
TOKEN_MARGIN = 60.0  # stop using a token this long before it runs out


def age_of(interaction: discord.Interaction[Any]) -> float:
    """Seconds since Discord created the interaction (its snowflake time)."""
    return max(0.0, (discord.utils.utcnow() - interaction.created_at).total_seconds())


def token_time_left(interaction: discord.Interaction[Any]) -> float:
    """Seconds the interaction's token can still be used safely (followups, edits)."""
    return max(0.0, TOKEN_LIFETIME - TOKEN_MARGIN - age_of(interaction))


def _time_left(interaction: discord.Interaction[Any]) -> float:
    """Seconds until the "thinking" answer is due, counted from the interaction's creation
    (its snowflake time), so whatever ran before this call counts too."""
    return max(0.0, DEFER_AFTER - min(age_of(interaction), DEFER_AFTER))


async def in_time(
    interaction: discord.Interaction[Any], work: Awaitable[T], *, ephemeral: bool
) -> T:
    """Await ``work``; if it runs past the deadline's margin, answer "thinking" (only to the
    caller when ``ephemeral``) first. The answer that follows must go through
    :func:`respond` (or ``followup``/``edit_original_response``)."""
    if interaction.response.is_done():
        return await work
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task}, timeout=_time_left(interaction))
        if not task.done():
            await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        return await task
    except BaseException:
        task.cancel()
        raise


async def respond(
    interaction: discord.Interaction[Any],
    content: str | None = None,
    *,
    ephemeral: bool,
    **kwargs: Any,
) -> None:
    """The first answer, or, after "thinking", the message that replaces it."""
    kwargs.setdefault("allowed_mentions", discord.AllowedMentions.none())
    if interaction.response.is_done():
        await interaction.followup.send(content or "", ephemeral=ephemeral, **kwargs)
    else:
        await interaction.response.send_message(content, ephemeral=ephemeral, **kwargs)
