"""How characters look on Discord: a character's embed, and the pages of the list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord

from bot.values import Character, ExampleMode
from cogs.embeds import Embed
from cogs.forms import Opener, OwnedView


def character_embed(character: Character, *, with_avatar: bool) -> discord.Embed:
    embed = Embed(title=character.name, description=character.persona)
    if character.scenario:
        embed.add_field(name="Scenario", value=character.scenario, inline=False)
    if character.greeting:
        embed.add_field(name="Greeting", value=character.greeting, inline=False)
    if character.alternate_greetings:
        embed.add_field(
            name="Other greetings", value=f"{len(character.alternate_greetings)} to swipe through"
        )
    if character.example_mode is not ExampleMode.GRADUAL:
        embed.add_field(name="Example dialogue", value=character.example_mode.value)
    embed.add_field(name="Creator", value=f"<@{character.owner_id}>")
    if character.nsfw:
        embed.add_field(name="NSFW", value="Plays only in age-restricted channels")
    if with_avatar:
        embed.set_thumbnail(url="attachment://avatar.png")
    return embed


class ListPages(OwnedView):
    def __init__(self, pages: Sequence[discord.Embed], opener: Opener) -> None:
        super().__init__(opener, timeout=300)
        self.pages, self.index = pages, 0
        self._sync()

    def _sync(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1

    @discord.ui.button(label="◀", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction[Any], _: Any) -> None:
        self.index = max(0, self.index - 1)
        self._sync()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)

    @discord.ui.button(label="▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction[Any], _: Any) -> None:
        self.index = min(len(self.pages) - 1, self.index + 1)
        self._sync()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)
