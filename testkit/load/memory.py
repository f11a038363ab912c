"""Memory samples of the process that runs both the bot and the emulator.

The emulator stands in for Discord's servers and keeps every message, edit and request it
saw, so the process grows with the traffic even when the bot does not. Each sample therefore
counts what the emulator holds (live objects and bytes reachable from its stores) and the
bot-side figures are the process totals minus that.
"""

from __future__ import annotations

import dataclasses
import gc
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testkit.discord_emulator import DiscordEmulator

MIB = 1024 * 1024


def rss_bytes() -> int:
    """Resident set size from /proc/self/status (VmRSS, in kB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the load started
    rss: int  # bytes, the whole process
    objects: int  # objects the garbage collector tracks, the whole process
    emulator_objects: int  # of those, reachable from the emulator's stores (and the test's)
    emulator_bytes: int  # sys.getsizeof over everything reachable from the emulator's stores
    cost: float  # seconds the sample took (the event loop waits meanwhile)
    cached_messages: int  # in discord.py's message cache
    sent: int  # messages the users had sent by then

    @property
    def bot_objects(self) -> int:
        return self.objects - self.emulator_objects

    @property
    def bot_rss(self) -> int:
        return self.rss - self.emulator_bytes


def _held(roots: Iterable[Any]) -> tuple[int, int]:
    """(tracked objects, bytes) reachable from ``roots`` through plain data and dataclasses."""
    seen: set[int] = set()
    stack = list(roots)
    tracked = size = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        size += sys.getsizeof(obj)
        tracked += gc.is_tracked(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            # Fields, not vars(): reading __dict__ would create dict objects that were not there.
            stack.extend(getattr(obj, f.name) for f in dataclasses.fields(obj))
    return tracked, size


def take_sample(
    emu: DiscordEmulator,
    started: float,
    cached_messages: int,
    sent: int,
    test_side: Iterable[Any] = (),
) -> Sample:
    """A full collection first, so that only live objects are counted. ``test_side`` holds
    more roots to count with the emulator's (the load test's own records)."""
    begun = time.monotonic()
    gc.collect()
    world = emu.world
    roots = (
        world.messages,
        world.files,
        emu.recorder.requests,
        emu.gateway.frames,
        emu.interactions.records,
        # Every event sent on a gateway session, kept for a RESUME to replay.
        [session.buffer for session in emu.gateway.sessions.values()],
        *test_side,
    )
    emulator_objects, emulator_bytes = _held(roots)
    objects = len(gc.get_objects())
    now = time.monotonic()
    return Sample(
        now - started,
        rss_bytes(),
        objects,
        emulator_objects,
        emulator_bytes,
        now - begun,
        cached_messages,
        sent,
    )


def warm_up_end(samples: list[Sample]) -> int:
    """The index of the first sample after the warm-up: the second half, and discord.py's
    message cache (1,000 messages, many objects each) full, i.e. at its final size."""
    if len(samples) < 6:
        raise ValueError("too few memory samples: run longer or sample more often")
    middle = len(samples) // 2
    full = samples[-1].cached_messages
    return next(
        (i for i in range(middle, len(samples) - 3) if samples[i].cached_messages >= full),
        middle,  # the cache never filled: it grows until the end, so the bound must allow it
    )


def growth_after_warm_up(samples: list[Sample]) -> tuple[float, int, int, int]:
    """(when the warm-up ended, bot-side objects gained since, bot-side RSS bytes gained since,
    messages sent since).

    Each end is the median of three samples, since replies in flight at the moment of a
    sample come and go."""
    start = warm_up_end(samples)
    first, last = samples[start : start + 3], samples[-3:]

    def median(values: list[int]) -> int:
        return sorted(values)[len(values) // 2]

    objects = median([s.bot_objects for s in last]) - median([s.bot_objects for s in first])
    rss = median([s.bot_rss for s in last]) - median([s.bot_rss for s in first])
    return samples[start].at, objects, rss, samples[-1].sent - samples[start].sent
