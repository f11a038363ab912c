"""What every cog shares: turning Discord objects into core values, and small UI pieces."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands

from bot.errors import InvalidInput
from bot.policy import Caller, Place
from cogs.deadline import respond
from cogs.forms import Opener, OwnedView

if TYPE_CHECKING:
    from bot.app import Core
    from cogs.client import GalateaBot

NO_MENTIONS = discord.AllowedMentions.none()
MAX_ATTACHMENT_BYTES = 8 * 1024 * 1024


def core_of(interaction: discord.Interaction[Any]) -> Core:
    return cast("GalateaBot", interaction.client).core


def caller_of(interaction: discord.Interaction[Any]) -> Caller:
    user = interaction.user
    roles: frozenset[int] = frozenset()
    admin = False
    if isinstance(user, discord.Member):
        roles = frozenset(role.id for role in user.roles)
        admin = user.guild_permissions.manage_guild or user.guild.owner_id == user.id
    return Caller(user_id=user.id, display_name=user.display_name, role_ids=roles, is_admin=admin)


def place_of(channel: Any, guild_id: int) -> Place:
    parent = getattr(channel, "parent_id", None)
    nsfw_source = channel
    if isinstance(channel, discord.Thread) and channel.parent is not None:
        nsfw_source = channel.parent
    return Place(
        guild_id=guild_id,
        channel_id=channel.id,
        parent_channel_id=parent,
        age_restricted=bool(getattr(nsfw_source, "nsfw", False)),
    )


def require_guild(interaction: discord.Interaction[Any]) -> int:
    if interaction.guild_id is None:
        raise InvalidInput("This command works in a server, not in direct messages.")
    return interaction.guild_id


async def read_attachment(
    attachment: discord.Attachment, *, limit: int = MAX_ATTACHMENT_BYTES
) -> bytes:
    if attachment.size > limit:
        raise InvalidInput(
            f"That file is {attachment.size / 1048576:.1f} MB; the limit is {limit // 1048576} MB."
        )
    try:
        return await attachment.read()
    except discord.HTTPException as exc:
        raise InvalidInput(
            "Discord would not hand over that file; please upload it again."
        ) from exc


def rank_names(names: list[str], current: str, limit: int = 25) -> list[app_commands.Choice[str]]:
    """Autocomplete: names starting with what was typed first, then names containing it."""
    typed = current.casefold().strip()
    starts = [n for n in names if n.casefold().startswith(typed)]
    contains = [n for n in names if typed in n.casefold() and n not in starts]
    return [app_commands.Choice(name=n, value=n) for n in (starts + contains)[:limit]]


async def character_autocomplete(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    if interaction.guild_id is None:
        return []
    names = await core_of(interaction).characters.names(interaction.guild_id)
    return rank_names(names, current)


async def world_autocomplete(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    if interaction.guild_id is None:
        return []
    names = await core_of(interaction).lore.world_names(interaction.guild_id)
    return rank_names(names, current)


async def reply_ephemeral(
    interaction: discord.Interaction[Any], content: str, **kwargs: Any
) -> None:
    """Answer only the caller, whether or not the interaction was answered already."""
    await respond(interaction, content, ephemeral=True, **kwargs)


class Confirm(OwnedView):
    """Two buttons; only the person who asked, in the server where they asked, may press them."""

    def __init__(self, opener: Opener, confirm_label: str) -> None:
        super().__init__(opener, timeout=120)
        self.confirmed: bool | None = None
        self.confirm.label = confirm_label[:80]  # Discord: a button label holds 80 characters

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]
    ) -> None:
        self.confirmed = True
        await interaction.response.defer()
        self.stop()

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]
    ) -> None:
        self.confirmed = False
        await interaction.response.edit_message(content="Nothing was changed.", view=None)
        self.stop()
