"""An avatar given as an upload or a link, fetched and checked while the form is filled in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import discord

from bot.characters.avatar_fetch import AvatarFetcher
from bot.common.images import normalize_avatar
from bot.errors import GalateaError, InvalidInput
from cogs.common import core_of, read_attachment
from cogs.deadline import in_time

log = logging.getLogger(__name__)


class PendingAvatar:
    """An avatar (a link, or an upload), fetched and checked from the moment the command runs
    until the character is saved.

    A site, or Discord's file server, may take longer than the 3 seconds Discord waits for a
    first answer, and a form, when there is one, is filled in meanwhile.
    """

    def __init__(self, work: Coroutine[Any, Any, bytes], *, note: str, think_first: bool) -> None:
        self._task = asyncio.create_task(work)
        self._task.add_done_callback(_retrieve)  # a form never sent leaves nobody awaiting it
        self._note, self._think_first = note, think_first

    async def result(
        self, interaction: discord.Interaction[Any], *, form_filled: bool
    ) -> tuple[bytes | None, str]:
        """The PNG and a line for the user, answering "thinking" first when it takes long (a
        link: always). A refusal is raised, unless a form was filled in: its texts are saved
        without the avatar rather than lost."""
        if self._think_first and not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            return await in_time(interaction, self._task, ephemeral=True), self._note
        except InvalidInput as refusal:
            if not form_filled:
                raise
            return None, f"{refusal.user_message} The rest was saved without a new avatar."


def _retrieve(task: asyncio.Task[bytes]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None and not isinstance(error, GalateaError):
        log.error("Fetching an avatar failed", exc_info=error)


def pending_avatar(
    interaction: discord.Interaction[Any], attachment: discord.Attachment | None, link: str | None
) -> PendingAvatar | None:
    if attachment is not None and link is not None:
        raise InvalidInput("Give the avatar as an uploaded image or as a link, not both.")
    if link is not None:
        fetcher: AvatarFetcher = core_of(interaction).avatar_fetcher
        return PendingAvatar(
            fetcher.fetch_png(link), note="The avatar was fetched from the link.", think_first=True
        )
    if attachment is not None:
        return PendingAvatar(_uploaded_avatar(attachment), note="", think_first=False)
    return None


async def _uploaded_avatar(attachment: discord.Attachment) -> bytes:
    data = await read_attachment(attachment)
    return await asyncio.to_thread(normalize_avatar, data)


async def saved_avatar(
    avatar: PendingAvatar | None, interaction: discord.Interaction[Any], *, form_filled: bool
) -> tuple[bytes | None, str]:
    if avatar is None:
        return None, ""
    return await avatar.result(interaction, form_filled=form_filled)
