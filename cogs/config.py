"""/config: where and how the bot plays on this server (Manage Server only)."""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import GalateaError
from bot.guilds.config import Setting
from bot.inference.presets import PRESETS
from bot.values import GuildSettings
from cogs.common import NO_MENTIONS, caller_of, core_of, reply_ephemeral, require_guild
from cogs.deadline import in_time, respond
from cogs.embeds import Embed, listing

Action = Literal["add", "remove", "clear"]


def _ids(ids: tuple[int, ...] | None, mention: str, none_text: str) -> str:
    if ids is None:
        return none_text
    # Cut between mentions: a server may allow hundreds of channels or roles (field ≤ 1024).
    return listing([mention.format(i) for i in ids]) or "none"


def config_embed(config: GuildSettings) -> discord.Embed:
    embed = Embed(title="Galatea settings for this server")
    embed.add_field(
        name="Channels", value=_ids(config.allowed_channel_ids, "<#{}>", "every channel")
    )
    embed.add_field(
        name="May create characters", value=_ids(config.creator_role_ids, "<@&{}>", "everyone")
    )
    embed.add_field(
        name="May start sessions", value=_ids(config.session_role_ids, "<@&{}>", "everyone")
    )
    embed.add_field(name="Reply mode", value=config.reply_mode)
    embed.add_field(name="Out-of-character prefix", value=f"`{config.ooc_prefix}`")
    embed.add_field(name="Longest reply", value=f"{config.max_reply_tokens or 'default'} tokens")
    embed.add_field(name="Sampler preset", value=config.sampler_preset or "default")
    embed.add_field(name="Cooldown per user", value=f"{config.user_cooldown_seconds:g} s")
    embed.add_field(name="NSFW characters", value=config.nsfw_rule.replace("_", " "))
    embed.add_field(name="Characters per roleplay", value=str(config.max_characters))
    embed.add_field(name="Replies per message", value=str(config.replies_per_message))
    return embed


def _change(
    current: tuple[int, ...] | None, action: Action, item: int | None
) -> tuple[int, ...] | None:
    if action == "clear":
        return None
    ids = list(current or ())
    if item is None:
        return current
    if action == "add" and item not in ids:
        ids.append(item)
    if action == "remove" and item in ids:
        ids.remove(item)
    return tuple(ids) if ids else (None if action == "remove" else ())


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ConfigCog(commands.GroupCog, group_name="config", group_description="Server settings"):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        # default_member_permissions can be overridden by a server: ask the core, before
        # anything is shown (the settings' changes are checked again where they are made).
        try:
            core_of(interaction).guild_config.check_can_configure(caller_of(interaction))
        except GalateaError as refusal:
            await reply_ephemeral(interaction, refusal.user_message)
            return False
        return True

    async def _update(
        self, interaction: discord.Interaction[Any], setting: Setting, value: object
    ) -> None:
        core = core_of(interaction)
        config = await in_time(
            interaction,
            core.guild_config.update(
                require_guild(interaction), {setting: value}, caller=caller_of(interaction)
            ),
            ephemeral=True,
        )
        await respond(interaction, "Saved.", embed=config_embed(config), ephemeral=True)

    @app_commands.command()
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        """Show this server's Galatea settings."""
        config = await core_of(interaction).guild_config.get(require_guild(interaction))
        await interaction.response.send_message(
            embed=config_embed(config), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command()
    @app_commands.describe(
        action="add or remove a channel, or clear to allow every channel",
        channel="The channel to add or remove",
    )
    async def channels(
        self,
        interaction: discord.Interaction[Any],
        action: Action,
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Choose the channels where roleplay may happen (threads follow their channel)."""
        core = core_of(interaction)
        current = (await core.guild_config.get(require_guild(interaction))).allowed_channel_ids
        await self._update(
            interaction,
            Setting.ALLOWED_CHANNELS,
            _change(current, action, channel.id if channel else None),
        )

    @app_commands.command()
    @app_commands.describe(
        permission="what the role allows",
        action="add or remove the role, or clear for everyone",
        role="The role to add or remove",
    )
    async def roles(
        self,
        interaction: discord.Interaction[Any],
        permission: Literal["create characters", "start sessions"],
        action: Action,
        role: discord.Role | None = None,
    ) -> None:
        """Choose which roles may create characters or start sessions."""
        core = core_of(interaction)
        config = await core.guild_config.get(require_guild(interaction))
        if permission == "create characters":
            setting, current = Setting.CREATOR_ROLES, config.creator_role_ids
        else:
            setting, current = Setting.SESSION_ROLES, config.session_role_ids
        await self._update(
            interaction, setting, _change(current, action, role.id if role else None)
        )

    @app_commands.command(name="reply-mode")
    @app_commands.describe(mode="all: every message; mention: only when named or replied to")
    async def reply_mode(
        self, interaction: discord.Interaction[Any], mode: Literal["all", "mention"]
    ) -> None:
        """Reply to every message, or only when the character is mentioned, named or replied to."""
        await self._update(interaction, Setting.REPLY_MODE, mode)

    @app_commands.command(name="ooc-prefix")
    @app_commands.describe(prefix="Up to 8 characters, e.g. //")
    async def ooc_prefix(
        self, interaction: discord.Interaction[Any], prefix: app_commands.Range[str, 1, 8]
    ) -> None:
        """Messages starting with this are out of character (default //)."""
        await self._update(interaction, Setting.OOC_PREFIX, prefix)

    @app_commands.command(name="reply-length")
    @app_commands.describe(tokens="From 16 to 1,024 tokens")
    async def reply_length(
        self, interaction: discord.Interaction[Any], tokens: app_commands.Range[int, 16, 1024]
    ) -> None:
        """The longest reply, in tokens."""
        await self._update(interaction, Setting.MAX_REPLY_TOKENS, tokens)

    @app_commands.command()
    @app_commands.describe(preset="A named set of sampler settings")
    @app_commands.choices(preset=[app_commands.Choice(name=name, value=name) for name in PRESETS])
    async def preset(self, interaction: discord.Interaction[Any], preset: str) -> None:
        """The sampler preset replies use."""
        await self._update(interaction, Setting.SAMPLER_PRESET, preset)

    @app_commands.command()
    @app_commands.describe(seconds="From 0 (no wait) to 3,600 seconds")
    async def cooldown(
        self, interaction: discord.Interaction[Any], seconds: app_commands.Range[float, 0, 3600]
    ) -> None:
        """How long each member waits before their next message makes the character answer."""
        await self._update(interaction, Setting.USER_COOLDOWN, seconds)

    @app_commands.command()
    @app_commands.describe(rule="age_restricted, allow or never")
    async def nsfw(
        self,
        interaction: discord.Interaction[Any],
        rule: Literal["age_restricted", "allow", "never"],
    ) -> None:
        """Where NSFW characters may play: age-restricted channels only, anywhere, or nowhere."""
        await self._update(interaction, Setting.NSFW_RULE, rule)

    @app_commands.command()
    @app_commands.rename(limit="max")
    @app_commands.describe(limit="How many characters one roleplay may have (default 4)")
    async def characters(
        self, interaction: discord.Interaction[Any], limit: app_commands.Range[int, 1, 10]
    ) -> None:
        """How many characters may share one roleplay (`/session add`)."""
        await self._update(interaction, Setting.MAX_CHARACTERS, limit)

    @app_commands.command()
    @app_commands.describe(
        per_message="How many characters may answer one member's message (default 2)"
    )
    async def replies(
        self, interaction: discord.Interaction[Any], per_message: app_commands.Range[int, 1, 10]
    ) -> None:
        """How many characters may answer one message; characters never answer each other."""
        await self._update(interaction, Setting.REPLIES_PER_MESSAGE, per_message)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(ConfigCog(bot))
