"""A loopback emulation of Discord's gateway and REST API for driving real discord.py bots.

Usage::

    async with DiscordEmulator() as emu:
        guild = emu.add_guild("Tavern")
        channel = emu.add_text_channel(guild, "rp")
        alice = emu.add_member(guild, "alice", nick="Alice")
        async with running_bot(bot, emu):  # sets Route.BASE + DEFAULT_GATEWAY, waits ready
            await emu.send_message(channel, alice, "hello")
            record = await emu.invoke_command("ping", {"text": "hi"}, user=alice, channel=channel)
            callback = await record.response()

``tests/discord_emulator/test_emulator*.py`` hold worked examples; ``sample_bot.py`` there the
bot they drive.
``interaction_rules.py`` holds Discord's documented limits on commands, options, components,
modals and interaction tokens, each with the documentation section it comes from.

Discord's documented rules on what a bot sends are enforced where they are checked, each with
its doc section: message content (``messages.py``), embeds and uploads (``limits.py``),
webhook names, caps and deletion (``rest_webhooks.py``). ``test_emulator_limits.py`` has a
test per rule. What Discord does but does not document is said to be so where it is modelled.
"""

from testkit.discord_emulator import permissions
from testkit.discord_emulator.discord_py import (
    discord_py_globals_restored,
    point_discord_py_at,
    running_bot,
)
from testkit.discord_emulator.emulator import RESUMABLE_CLOSE, DiscordEmulator
from testkit.discord_emulator.interactions import InteractionRecord
from testkit.discord_emulator.messages import Upload
from testkit.discord_emulator.recorder import RecordedRequest
from testkit.discord_emulator.state import (
    Channel,
    Guild,
    Member,
    Role,
    StoredFile,
    StoredMessage,
    User,
    Webhook,
)

__all__ = [
    "RESUMABLE_CLOSE",
    "Channel",
    "DiscordEmulator",
    "Guild",
    "InteractionRecord",
    "Member",
    "RecordedRequest",
    "Role",
    "StoredFile",
    "StoredMessage",
    "Upload",
    "User",
    "Webhook",
    "discord_py_globals_restored",
    "permissions",
    "point_discord_py_at",
    "running_bot",
]
