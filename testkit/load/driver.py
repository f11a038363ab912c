"""The load driver: a world of guilds, channels and members in the emulator, the real bot on a
real database, a session per channel started with ``/session start``, then simulated users
posting at a human rate; at the end, what the store holds is compared with what was sent and
what the channels showed.

Use it from a test (``run_load(emu, database, config)``) or from the command line
(``python -m tests.load --seconds 300``).
"""

# Every wait below is bounded (asyncio.wait_for or an explicit timeout).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

from bot.store import Database
from bot.values import Role
from cogs.client import GalateaBot
from testkit.discord_emulator import Channel, DiscordEmulator, Guild, Member, permissions
from testkit.harness import galatea
from testkit.load.config import LoadConfig
from testkit.load.ledger import Ledger
from testkit.load.memory import Sample, take_sample
from testkit.load.report import ChannelCheck, LoadReport
from testkit.support.ack_backend import AckBackend

CHARACTER = "Aqua"
COMMAND_TIMEOUT = 10.0
SETTLE_SECONDS = 0.5  # after the last answer: the final edit with buttons, the store's link
HISTORY_LIMIT = 1_000_000  # the whole session


@dataclass
class LoadWorld:
    admins: dict[int, Member]  # guild id -> the member who creates the character and sessions
    channels: list[Channel]
    posters: dict[int, list[Member]]  # channel id -> the members who talk there


def build_load_world(emu: DiscordEmulator, config: LoadConfig) -> LoadWorld:
    """``config.guilds`` servers sharing ``config.channels`` channels, each channel with its own
    ``config.users_per_channel`` members."""
    guilds: list[Guild] = [emu.add_guild(f"Tavern {g}") for g in range(config.guilds)]
    admins: dict[int, Member] = {}
    for guild in guilds:
        role = emu.add_role(guild, "Admins", permissions=permissions.MANAGE_GUILD)
        admins[guild.id] = emu.add_member(guild, f"admin{guild.id}", nick="Admin", roles=[role])
    channels: list[Channel] = []
    posters: dict[int, list[Member]] = {}
    for c in range(config.channels):
        guild = guilds[c % len(guilds)]
        channel = emu.add_text_channel(guild, f"rp-{c:02d}")
        channels.append(channel)
        posters[channel.id] = [
            emu.add_member(guild, f"c{c:02d}u{u}", nick=f"User {c}.{u}")
            for u in range(config.users_per_channel)
        ]
    return LoadWorld(admins, channels, posters)


async def create_character(
    emu: DiscordEmulator,
    admin: Member,
    channel: Channel,
    *,
    persona: str = "A calm harbour spirit.",
    scenario: str = "",
    examples: str = "",
) -> None:
    """``/character create`` and its modal, as a person does it (no greeting: replies only)."""
    record = await emu.invoke_command(
        "character create", {"name": CHARACTER}, user=admin, channel=channel
    )
    await record.response(timeout=COMMAND_TIMEOUT)
    submitted = await emu.submit_modal(
        None,
        {"name": CHARACTER, "persona": persona, "greeting": ""}
        | {"scenario": scenario, "examples": examples},
        admin,
        opened_by=record,
    )
    answer = await submitted.response(timeout=COMMAND_TIMEOUT)
    if "is ready" not in answer["data"]["content"]:
        raise RuntimeError(f"character not created: {answer['data']['content']!r}")


async def start_session(emu: DiscordEmulator, admin: Member, channel: Channel) -> None:
    record = await emu.invoke_command(
        "session start", {"character": CHARACTER}, user=admin, channel=channel
    )
    await record.response(timeout=COMMAND_TIMEOUT)
    started = await record.followup(timeout=COMMAND_TIMEOUT)
    if "joins the roleplay" not in started.content:
        raise RuntimeError(f"session not started in #{channel.name}: {started.content!r}")


class ErrorLog(logging.Handler):
    """Keeps every record at ERROR or above logged anywhere while a run lasts."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Run:
    """The moving parts of one run, shared by the users, the sampler and the checks."""

    emu: DiscordEmulator
    bot: GalateaBot
    config: LoadConfig
    world: LoadWorld
    ledger: Ledger
    started: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)

    async def user(self, channel: Channel, member: Member, rng: random.Random) -> None:
        """One person: a message every few seconds until the time is up."""
        record = self.ledger.channels[channel.id]
        deadline = self.started + self.config.seconds
        # The first message comes at a random point of one interval, so users do not march.
        await asyncio.sleep(rng.uniform(0, self.config.max_interval))
        while time.monotonic() < deadline:
            line = record.next_line()
            text = f"line {line} from {member.nick}: {rng.choice(PHRASES)}"
            # send_message stores and dispatches without awaiting anything: the line number
            # and the order in the ledger are the channel's order.
            record.sent(await self.emu.send_message(channel, member, text), text)
            await asyncio.sleep(rng.uniform(self.config.min_interval, self.config.max_interval))

    def sample(self) -> None:
        cached = len(self.bot.cached_messages)
        sample = take_sample(self.emu, self.started, cached, self.ledger.sent, self.ledger.roots())
        self.samples.append(sample)

    async def sampler(self) -> None:
        # At least eight samples, so that a short run still has a warm-up and a rest.
        every = min(self.config.sample_every, self.config.seconds / 8)
        while True:
            self.sample()
            await asyncio.sleep(every)

    async def drain(self) -> float:
        """Wait (bounded) until every line was answered; returns the seconds it took."""
        begun = time.monotonic()
        self.ledger.all_answered.clear()  # it may have been set between two messages
        if self.ledger.unanswered:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ledger.all_answered.wait(), self.config.drain_seconds)
        return time.monotonic() - begun


PHRASES = (
    "I look out over the harbour.",
    "Did you hear the bells?",
    "Let us walk to the lighthouse.",
    "The fishermen are late tonight.",
    "What does the sea say today?",
    "I brought bread for the gulls.",
)


async def run_load(emu: DiscordEmulator, database: Database, config: LoadConfig) -> LoadReport:
    """Build the world, start the bot, run the users, drain, check; returns the figures."""
    world = build_load_world(emu, config)
    backend = AckBackend(piece_delay=config.piece_delay)
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    try:
        async with galatea(emu, database, backend) as bot:
            first_channel = {c.guild_id: c for c in reversed(world.channels)}
            for guild_id, admin in world.admins.items():
                await create_character(emu, admin, first_channel[guild_id])
            for channel in world.channels:
                await start_session(emu, world.admins[channel.guild_id], channel)
            report = await _drive(emu, bot, config, world)
    finally:
        logging.getLogger().removeHandler(errors)
    report.errors = [f"{r.name}: {r.getMessage()}" for r in errors.records]
    report.emulator_errors = [repr(e) for e in emu.internal_errors]
    report.generations = backend.generations
    return report


async def _drive(
    emu: DiscordEmulator, bot: GalateaBot, config: LoadConfig, world: LoadWorld
) -> LoadReport:
    ledger = Ledger([c.id for c in world.channels], webhook_author=CHARACTER)
    load_began = emu.world.next_id()  # snowflakes grow: later messages have larger ids
    total = config.seconds + config.drain_seconds + 60
    tap = asyncio.create_task(_watch(emu, ledger, total), name="load-tap")
    tasks_before = asyncio.all_tasks() - {tap, asyncio.current_task()}
    run = Run(emu, bot, config, world, ledger)
    rng = random.Random(config.seed)
    sampler = asyncio.create_task(run.sampler(), name="load-sampler")
    users = [
        asyncio.create_task(run.user(channel, member, random.Random(rng.random())))
        for channel in world.channels
        for member in world.posters[channel.id]
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*users), config.seconds + config.max_interval + 30)
        run.sample()
        sampler.cancel()
        drained = await run.drain()
        roleplay = bot.roleplay
        try:
            await asyncio.wait_for(roleplay.idle(), config.drain_seconds)
            still_busy = False
        except TimeoutError:
            still_busy = True  # reported below with the lines left unanswered
        await asyncio.sleep(SETTLE_SECONDS)
        tasks_after = asyncio.all_tasks() - {tap, asyncio.current_task()}
    finally:
        for task in (*users, sampler, tap):
            task.cancel()
        await asyncio.gather(*users, sampler, tap, return_exceptions=True)
    checks = [
        await _check_channel(emu, bot, ledger, channel, load_began) for channel in world.channels
    ]
    return LoadReport(
        config=config,
        checks=checks,
        samples=run.samples,
        tasks_before=len(_bot_side(tasks_before)),
        tasks_after=len(_bot_side(tasks_after)),
        new_tasks=sorted(_describe(t) for t in _bot_side(tasks_after - tasks_before)),
        server_tasks=len(tasks_after) - len(_bot_side(tasks_after)),
        drain_seconds=drained,
        still_busy=still_busy,
    )


def _bot_side(tasks: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Leaves out the emulator's web server tasks: one per open keep-alive connection of
    the bot's HTTP client, which opens and idles out connections as traffic comes and goes."""
    return {t for t in tasks if "aiohttp/web_protocol" not in _code_file(t)}


def _code_file(task: asyncio.Task[Any]) -> str:
    code = getattr(task.get_coro(), "cr_code", None)
    return code.co_filename if code is not None else ""


def _describe(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return f"{task.get_name()} ({getattr(coro, '__qualname__', coro)})"


async def _watch(emu: DiscordEmulator, ledger: Ledger, timeout: float) -> None:
    """Feed every message change to the ledger, for at most ``timeout`` seconds."""
    with contextlib.suppress(TimeoutError):
        await emu.wait_for_message(None, ledger.tap, timeout=timeout)


async def _check_channel(
    emu: DiscordEmulator, bot: GalateaBot, ledger: Ledger, channel: Channel, after: int
) -> ChannelCheck:
    """Compare the store (read through the core) with what was sent and what was shown."""
    record = ledger.channels[channel.id]
    view = await bot.core.engine.sessions.active(channel.id)
    if view is None:
        raise AssertionError(f"#{channel.name} lost its session")
    history = await bot.core.engine.history.recent(view.session.id, limit=HISTORY_LIMIT)
    humans = [m for m in history if m.role is Role.HUMAN]
    characters = [m for m in history if m.role is Role.CHARACTER]
    shown = [
        m
        for m in emu.messages_in(channel)
        if m.webhook_id is not None and m.author_name == CHARACTER
    ]
    bot_notes = [
        m.content
        for m in emu.messages_in(channel)
        if m.author_id == emu.bot.id and m.webhook_id is None and m.id > after
    ]
    stored_ids = [m.discord_message_id for m in characters]
    shown_ids = {m.id for m in shown}
    return ChannelCheck(
        name=channel.name,
        sent=len(record.sent_ids),
        stored_humans=len(humans),
        humans_match=[m.discord_message_id for m in humans] == record.sent_ids
        and [m.content for m in humans] == record.sent_texts,
        replies_shown=len(shown),
        replies_stored=len(characters),
        stored_twice=len(stored_ids) - len(set(stored_ids)),
        stored_not_shown=len([i for i in stored_ids if i not in shown_ids]),
        shown_not_stored=len(shown_ids - set(stored_ids)),
        repeated_answers=record.repeated_answers,
        untagged_replies=record.untagged_replies,
        unanswered=record.unanswered,
        latencies=list(record.latencies),
        bot_notes=bot_notes,
    )
