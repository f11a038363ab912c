"""Forms (modals) and button panels that answer only the interaction that opened them.

discord.py keeps open modals keyed by their ``custom_id`` alone, bot-wide: two forms opened
with one fixed id share one slot, and the newest receives every submission. So each form gets
an id of its own, and every form and panel checks, before anything is written, that whoever
submits or clicks is the member who opened it, in the server where they opened it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import discord

from cogs.deadline import respond

CUSTOM_ID_LIMIT = 100  # Discord: a custom_id holds at most 100 characters


def unique_custom_id(kind: str) -> str:
    """``galatea:<kind>:<random>``: no two open forms share one."""
    custom_id = f"galatea:{kind}:{secrets.token_hex(8)}"
    assert len(custom_id) <= CUSTOM_ID_LIMIT, kind
    return custom_id


@dataclass(frozen=True)
class Opener:
    """Who opened a form or a panel, and in which server."""

    user_id: int
    guild_id: int | None

    @classmethod
    def of(cls, interaction: discord.Interaction[Any]) -> Opener:
        return cls(interaction.user.id, interaction.guild_id)

    def matches(self, interaction: discord.Interaction[Any]) -> bool:
        return interaction.user.id == self.user_id and interaction.guild_id == self.guild_id


async def refuse(interaction: discord.Interaction[Any], what: str) -> None:
    text = f"This {what} belongs to someone else's request; nothing was changed."
    await respond(interaction, text, ephemeral=True)


class OwnedModal(discord.ui.Modal):
    """A form with an id of its own that only its opener can submit."""

    def __init__(self, opener: Opener, *, kind: str, title: str, timeout: float) -> None:
        super().__init__(title=title[:45], timeout=timeout, custom_id=unique_custom_id(kind))
        self.opener = opener

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if self.opener.matches(interaction):
            return True
        await refuse(interaction, "form")
        return False


class OwnedView(discord.ui.View):
    """Buttons only their opener can press (discord.py gives each button a random id)."""

    def __init__(self, opener: Opener, *, timeout: float | None) -> None:
        super().__init__(timeout=timeout)
        self.opener = opener

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if self.opener.matches(interaction):
            return True
        await refuse(interaction, "button")
        return False
