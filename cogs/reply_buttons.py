"""The buttons under a character's latest reply: ◀ ▶ browse versions, regenerate, continue,
delete. They are dynamic items, so they keep working after a restart."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.values import StoredMessage

if TYPE_CHECKING:
    from cogs.client import GalateaBot

ACTIONS = {
    "prev": ("◀", discord.ButtonStyle.secondary),
    "next": ("▶", discord.ButtonStyle.secondary),
    "regen": ("🔄 Regenerate", discord.ButtonStyle.primary),
    "cont": ("➡️ Continue", discord.ButtonStyle.secondary),
    "del": ("🗑️", discord.ButtonStyle.danger),
}


class ReplyButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"galatea:reply:(?P<action>prev|next|regen|cont|del):(?P<session>[0-9]+)",
):
    def __init__(self, action: str, session_id: int, *, disabled: bool = False) -> None:
        label, style = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=label,
                style=style,
                disabled=disabled,
                custom_id=f"galatea:reply:{action}:{session_id}",
            )
        )
        self.action, self.session_id = action, session_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> ReplyButton:
        return cls(match["action"], int(match["session"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = cast("GalateaBot", interaction.client)
        await bot.roleplay_cog.on_reply_button(interaction, self.action, self.session_id)


def reply_view(session_id: int, message: StoredMessage) -> discord.ui.View:
    """Buttons for the latest reply; ◀ ▶ appear once there is more than one version."""
    view = discord.ui.View(timeout=None)
    versions = len(message.swipes) or 1
    if versions > 1:
        view.add_item(ReplyButton("prev", session_id, disabled=message.swipe_index == 0))
        view.add_item(
            discord.ui.Button(
                label=f"{message.swipe_index + 1}/{versions}",
                disabled=True,
                custom_id=f"galatea:count:{session_id}",
            )
        )
        view.add_item(ReplyButton("next", session_id, disabled=message.swipe_index >= versions - 1))
    for action in ("regen", "cont", "del"):
        view.add_item(ReplyButton(action, session_id))
    return view
