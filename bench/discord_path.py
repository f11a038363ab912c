"""Time to first visible text in Discord: the real bot (discord.py, cogs, core, scheduler) on a
real SQLite file, against the local Discord emulation, with a real model behind it.

N channels of one server, three members in each; in every round one member in every channel
posts at the same moment. Per reply: from just before the emulator dispatches the member's
MESSAGE_CREATE to the first time the channel shows the character's reply with text (the
webhook's first post of the streamed reply), and to the final edit that puts the buttons on
(the reply is complete). A reply that never comes, or that the bot withdraws with a note
(a random-weight model may say nothing twice), is counted as a failure.

The world, the session commands and the bot come from the test harness (``tests/cogs``,
``tests/load``), so this runs from a checkout, not from an installed package.
"""

# Every wait below is bounded (asyncio.wait_for or an explicit timeout).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.conversation import EXAMPLE_DIALOGUE, PERSONA, SCENARIO, MessageWriter
from bench.core_setup import bench_settings
from bench.stats import p50, p95
from bot.app import open_database
from bot.inference.base import Backend
from bot.settings import Settings
from bot.store import Database
from testkit.discord_emulator import Channel, DiscordEmulator, Member, StoredMessage
from testkit.harness import galatea
from testkit.load.config import LoadConfig
from testkit.load.driver import CHARACTER, build_load_world, create_character, start_session

log = logging.getLogger(__name__)

PEOPLE_PER_CHANNEL = 3
ROUND_TIMEOUT_SECONDS = 600.0  # every channel's reply in one round; far above any expected
SETTLE_SECONDS = 0.2  # after the bot is idle: a last edit or note still on its way
FAILURE_NOTE = "⚠️"  # how the bot starts the note it posts when no reply came
# The bench's settings the bot runs with (queue limit and reply timeout raised: every
# channel is measured rather than turned away by backpressure).
BOT_SETTINGS = (
    "MODEL",
    "CONTEXT_LENGTH",
    "MAX_NEW_TOKENS",
    "PROMPT_FORMAT",
    "HISTORY_MESSAGES",
    "MAX_QUEUE_PER_SERVER",
    "REPLY_TIMEOUT",
    "TOP_K",
)


@dataclass
class ReplyTiming:
    """One member's message and what its channel showed back (``perf_counter`` seconds)."""

    channel_id: int
    posted: float
    after_id: int  # the member's message: the reply has a larger snowflake
    first_text: float | None = None
    complete: float | None = None
    failed: float | None = None  # the bot's note that no reply came
    gave_up: float | None = None  # the round ran out of time with nothing settled
    reply_chars: int = 0
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def outcome(self) -> float | None:
        for moment in (self.complete, self.failed, self.gave_up):
            if moment is not None:
                return moment
        return None


class RoundWatch:
    """Fed every message created or edited in the emulator; marks the round's replies."""

    def __init__(self, bot_id: int) -> None:
        self._bot_id = bot_id
        self._pending: dict[int, ReplyTiming] = {}  # channel id -> this round's message

    def expect(self, timing: ReplyTiming) -> None:
        self._pending[timing.channel_id] = timing

    def tap(self, message: StoredMessage) -> bool:
        """Never matches, so that ``wait_for_message`` keeps calling it."""
        timing = self._pending.get(message.channel_id)
        if timing is None or message.id <= timing.after_id or timing.settled.is_set():
            return False
        now = time.perf_counter()
        if message.webhook_id is not None and message.author_name == CHARACTER:
            if message.content and timing.first_text is None:
                timing.first_text = now
            if message.get("components"):  # the buttons come with the final edit
                timing.complete = now
                timing.reply_chars = len(message.content)
                timing.settled.set()
        elif message.author_id == self._bot_id and message.content.startswith(FAILURE_NOTE):
            timing.failed = now
            timing.settled.set()
        return False


async def measure_discord_path(
    backend: Backend,
    *,
    model: str,
    channel_counts: Sequence[int] = (1, 8),
    rounds: int,
    max_new_tokens: int,
    round_timeout: float = ROUND_TIMEOUT_SECONDS,
    seed: int = 50,
) -> dict[str, Any]:
    """Per channel count: replies, failures, first text and complete p50/p95, longest wait;
    after one warm-up reply in a channel of its own (reported apart, under ``warm_up``).

    ``backend`` is used as it is (loaded here if it is not yet) and is not closed: the caller
    owns it.
    """
    await backend.load()
    with tempfile.TemporaryDirectory(prefix="galatea-discord-bench-") as folder:
        settings = bench_settings(
            Path(folder) / "bot.db",
            model=model,
            context_length=backend.context_length,
            max_new_tokens=max_new_tokens,
        )
        database = await open_database(settings)  # migrated as the bot does at start-up
        try:
            async with DiscordEmulator() as emu:
                results = await _run(
                    emu, database, backend, settings, channel_counts, rounds, round_timeout, seed
                )
                results["emulator_errors"] = [repr(e) for e in emu.internal_errors]
        finally:
            await database.dispose()
    return results


async def _run(
    emu: DiscordEmulator,
    database: Database,
    backend: Backend,
    settings: Settings,
    channel_counts: Sequence[int],
    rounds: int,
    round_timeout: float,
    seed: int,
) -> dict[str, Any]:
    # One channel more, for a warm-up reply: the model's first generation after loading (and,
    # on a GPU, its first kernels) would otherwise land in the first measured round.
    config = LoadConfig(
        channels=sum(channel_counts) + 1, users_per_channel=PEOPLE_PER_CHANNEL, guilds=1
    )
    world = build_load_world(emu, config)  # before the bot starts: READY carries it all
    overrides = {name: getattr(settings, name) for name in BOT_SETTINGS}
    results: dict[str, Any] = {"max_new_tokens": settings.MAX_NEW_TOKENS, "channels": {}}
    async with galatea(emu, database, backend, **overrides) as bot:
        admin = next(iter(world.admins.values()))
        await create_character(
            emu,
            admin,
            world.channels[0],
            persona=PERSONA,
            scenario=SCENARIO,
            examples=EXAMPLE_DIALOGUE,
        )
        for channel in world.channels:
            await start_session(emu, admin, channel)
        watch = RoundWatch(emu.bot.id)
        total = (rounds * len(channel_counts) + 1) * (round_timeout + 30)
        tap = asyncio.create_task(_watch(emu, watch, total), name="discord-bench-tap")
        roleplay = bot.roleplay
        writer = MessageWriter(seed, PEOPLE_PER_CHANNEL)
        try:
            warm = world.channels[-1]
            results["warm_up"] = await _measure_count(
                emu,
                watch,
                roleplay,
                [(warm, world.posters[warm.id])],
                writer,
                1,
                round_timeout,
                warm_up=True,
            )
            first = 0
            for count in channel_counts:
                channels = world.channels[first : first + count]
                first += count
                summary = await _measure_count(
                    emu,
                    watch,
                    roleplay,
                    [(c, world.posters[c.id]) for c in channels],
                    writer,
                    rounds,
                    round_timeout,
                )
                results["channels"][str(count)] = summary
        finally:
            tap.cancel()
            await asyncio.gather(tap, return_exceptions=True)
    return results


async def _measure_count(
    emu: DiscordEmulator,
    watch: RoundWatch,
    roleplay: Any,
    channels: list[tuple[Channel, list[Member]]],
    writer: MessageWriter,
    rounds: int,
    round_timeout: float,
    *,
    warm_up: bool = False,
) -> dict[str, Any]:
    """``rounds`` rounds over these channels (each with its members); their summary."""
    started = time.perf_counter()
    timings: list[ReplyTiming] = []
    done_rounds = 0
    for index in range(rounds):
        posts = [
            (channel.id, members[index % len(members)], writer.message())
            for channel, members in channels
        ]
        finished, round_timings = await _round(emu, watch, roleplay, posts, round_timeout)
        timings += round_timings
        done_rounds += 1
        if not finished:
            log.warning("%d channels: round %d ran out of time", len(channels), index + 1)
            break
    summary = summarize(timings, len(channels), done_rounds, time.perf_counter() - started)
    log.info(
        "Discord, %s: first text p50 %.2f s, p95 %.2f s; %d of %d failed",
        "warm-up" if warm_up else f"{len(channels)} channels",
        _nan(summary["first_text_p50"]),
        _nan(summary["first_text_p95"]),
        summary["failures"],
        summary["messages"],
    )
    return summary


async def _round(
    emu: DiscordEmulator,
    watch: RoundWatch,
    roleplay: Any,
    posts: list[tuple[int, Member, str]],
    round_timeout: float,
) -> tuple[bool, list[ReplyTiming]]:
    """Every channel's member posts at once; wait (bounded) until every reply settled and the
    bot is idle. Returns whether the round finished in time, and its timings."""
    deadline = time.monotonic() + round_timeout
    timings: list[ReplyTiming] = []
    for channel_id, member, text in posts:
        posted = time.perf_counter()
        # send_message stores and dispatches without suspending: the watch sees every reply.
        message = await emu.send_message(channel_id, member, text)
        timing = ReplyTiming(channel_id, posted, message.id)
        watch.expect(timing)
        timings.append(timing)
    try:
        await asyncio.wait_for(asyncio.gather(*(t.settled.wait() for t in timings)), round_timeout)
        await asyncio.wait_for(roleplay.idle(), max(0.0, deadline - time.monotonic()))
        finished = True
    except TimeoutError:
        finished = False
    await asyncio.sleep(SETTLE_SECONDS)
    for timing in timings:
        timing.settled.set()  # what comes later belongs to no round
    if not finished:
        for timing in timings:
            if timing.outcome is None:
                timing.gave_up = time.perf_counter()  # the longest wait is the whole round
    return finished, timings


def summarize(
    timings: list[ReplyTiming], channels: int, rounds: int, wall_seconds: float
) -> dict[str, Any]:
    """The figures of one channel count (``None`` where nothing was measured)."""
    complete = [t for t in timings if t.complete is not None]
    firsts = [t.first_text - t.posted for t in complete if t.first_text is not None]
    completes = [t.complete - t.posted for t in complete if t.complete is not None]
    # Fairness: how long any member waited for a first text, or for the failure to show.
    waits = [
        (t.first_text if t.first_text is not None else t.outcome or t.posted) - t.posted
        for t in timings
    ]
    return {
        "channels": channels,
        "rounds": rounds,
        "messages": len(timings),
        "replies": len(complete),
        "failures": len(timings) - len(complete),
        "failure_notes": sum(t.failed is not None and t.complete is None for t in timings),
        "no_reply": sum(t.gave_up is not None for t in timings),
        "first_text_p50": _figure(p50(firsts)),
        "first_text_p95": _figure(p95(firsts)),
        "first_text_max": max(firsts, default=None),
        "complete_p50": _figure(p50(completes)),
        "complete_p95": _figure(p95(completes)),
        "complete_max": max(completes, default=None),
        "longest_wait": max(waits, default=None),
        "reply_chars_p50": _figure(p50([float(t.reply_chars) for t in complete])),
        "wall_seconds": wall_seconds,
    }


async def _watch(emu: DiscordEmulator, watch: RoundWatch, timeout: float) -> None:
    """Feed every message change to the watch, for at most ``timeout`` seconds."""
    with contextlib.suppress(TimeoutError):
        await emu.wait_for_message(None, watch.tap, timeout=timeout)


def _figure(value: float) -> float | None:
    return None if math.isnan(value) else value


def _nan(value: float | None) -> float:
    return math.nan if value is None else value
