"""Every slash command, subcommand and option fits Discord's documented limits, reads whole,
and every string option is bounded (Interactions > Application Commands > Application Command
Object; the rules themselves live in testkit/discord_emulator/interaction_rules.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bot.store import Database
from testkit.discord_emulator import DiscordEmulator
from testkit.discord_emulator import interaction_rules as rules
from testkit.harness import World, galatea
from tests.support.recording_backend import RecordingBackend

# What discord.py appends when it cuts a docstring or description to 100 characters.
CUT_MARK = "…"
# Every string option names its own bound (a name, a link, a note), at most Discord's.
STRING_OPTION_MAX = rules.STRING_LENGTH_MAX


def walk(options: list[dict[str, Any]], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for option in options:
        at = f"{path} {option['name']}"
        yield at, option
        if option["type"] in (rules.SUB_COMMAND, rules.SUB_COMMAND_GROUP):
            yield from walk(option.get("options") or [], at)


async def synced_commands(emu: DiscordEmulator, database: Database) -> list[dict[str, Any]]:
    async with galatea(emu, database, RecordingBackend()) as bot:
        return [command.to_dict(bot.tree) for command in bot.tree.get_commands()]


async def test_every_command_fits_discords_limits_and_reads_whole(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    commands = await synced_commands(emu, database)
    assert commands
    rules.check_command_set(commands)  # names, 1-100 descriptions, 25 options, 8,000 in all
    problems: list[str] = []
    for command in commands:
        entries = [(f"/{command['name']}", command), *walk(command["options"], command["name"])]
        for path, entry in entries:
            description = entry["description"]
            if description.endswith(CUT_MARK) or not 1 <= len(description) <= 100:
                problems.append(f"{path}: description cut or too long: {description!r}")
            is_group = any(
                o["type"] in (rules.SUB_COMMAND, rules.SUB_COMMAND_GROUP)
                for o in entry.get("options") or []
            )
            is_command = not is_group and (entry is command or entry["type"] == rules.SUB_COMMAND)
            if is_command and not description.rstrip(")").endswith((".", "?", "!")):
                problems.append(f"{path}: description is not a whole sentence: {description!r}")
            if entry.get("type") == rules.STRING and not entry.get("choices"):
                bound = entry.get("max_length")
                if bound is None or bound > STRING_OPTION_MAX:
                    problems.append(f"{path}: string option without a sensible max_length")
    assert not problems, "\n".join(problems)


async def test_the_longest_name_the_client_lets_through_gets_a_short_not_found_answer(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()):
        synced = next(c for c in emu.world.commands[None] if c["name"] == "character")
        show = next(o for o in synced["options"] if o["name"] == "show")
        option = next(o for o in show["options"] if o["name"] == "character")
        # Without a max_length, Discord's client lets 6,000 characters through.
        typed = "x" * option.get("max_length", rules.STRING_LENGTH_MAX)
        record = await emu.invoke_command(
            "character show", {"character": typed}, user=world.bob, channel=world.channel
        )
        answer = (await record.response())["data"]["content"]
    assert answer.startswith("There is no character named") and len(answer) <= 200
