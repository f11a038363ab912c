"""A lorebook at the card import limits, scanned against a full window of chat.

The book has ``MAX_LORE_ENTRIES`` entries of ``MAX_LIST_ITEMS`` keys each (a million distinct
keys, one of them a catastrophic regex per entry), within ``MAX_TOTAL_CHARS`` (it is checked
by building a card around it). The window is ``WINDOW_MESSAGES`` messages of about
``MESSAGE_CHARS`` characters (some 8,000 tokens of chat), the book's ``scan_depth`` covering
them all, and the newest message names a few keys. Measured through ``scan_book_async``,
the path a prompt takes:

* cold: the first scan of the book, which compiles its keys;
* warm: later scans, each with a new newest message (p50, p95, max);
* the event loop's longest stall meanwhile: a ticker task asks to wake every 5 ms and
  records how late it wakes.

    python -m bench.lore_scan                 # prints JSON (about a minute on 2 cores)
    python -m bench run --parts lore          # the same inside the full report
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.stats import p50, p95
from bot.cards import CharacterCard, LoreBook, LoreEntry, limits
from bot.lore import scan

WINDOW_MESSAGES = 100
MESSAGE_CHARS = 320
TICK_SECONDS = 0.005
WORDS = (
    "the guild hall was quiet when we arrived and the river ran past the old mill while "
    "Aqua argued about the price of eggs with a merchant who would not listen"
).split()


def limit_book(
    entries_count: int = limits.MAX_LORE_ENTRIES, keys_count: int = limits.MAX_LIST_ITEMS
) -> LoreBook:
    """A book as large as a card may carry: 1,000 entries x 1,000 keys (by default)."""
    entries = []
    for e in range(entries_count):
        keys = [f"k{e:x}q{k:x}" for k in range(keys_count - 1)]
        keys.append("/(x+x+)+y/")  # catastrophic for a backtracking engine
        entries.append(
            LoreEntry(
                keys=tuple(keys),
                content=f"Lore number {e}: " + "fact " * 60,
                insertion_order=e % 100,
                secondary_keys=(f"s{e:x}", "river"),
                selective=e % 3 == 0,
            )
        )
    book = LoreBook(scan_depth=WINDOW_MESSAGES, entries=tuple(entries))
    CharacterCard(name="Bench", character_book=book)  # raises if over an import limit
    return book


def window(seed: int) -> list[str]:
    """A full window of chat, ``Name: text`` as scanned; the newest message names keys."""
    rng = random.Random(seed)
    messages = []
    for i in range(WINDOW_MESSAGES):
        text = ""
        while len(text) < MESSAGE_CHARS:
            text += rng.choice(WORDS) + " "
        messages.append(f"{'Alice' if i % 2 == 0 else 'Aqua'}: {text.strip()}")
    # Keys of the most important entries (insertion order 99): the ones a bounded scan reads.
    picked = " ".join(f"k{99 + 100 * rng.randrange(10):x}q{rng.randrange(999):x}" for _ in range(5))
    messages[-1] += f" {picked} " + "x" * 200
    return messages


async def _with_ticker(work: Callable[[], Awaitable[Any]]) -> tuple[Any, float, float]:
    """``work``'s result, its wall time and the event loop's longest stall, in seconds."""
    stalls = [0.0]
    done = asyncio.Event()

    async def tick() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            asked = loop.time()
            await asyncio.sleep(TICK_SECONDS)
            stalls.append(loop.time() - asked - TICK_SECONDS)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(TICK_SECONDS * 2)  # the ticker is running before the work starts
    started = time.perf_counter()
    result = await work()
    elapsed = time.perf_counter() - started
    done.set()
    await ticker
    return result, elapsed, max(stalls)


async def _scan(book: LoreBook, messages: list[str]) -> int:
    scan_async = getattr(scan, "scan_book_async", None)
    if scan_async is not None:
        found = await scan_async(book, messages, char="Aqua", user="Alice")
    else:  # the scan before the matcher: on the event loop
        found = scan.scan_book(book, messages, char="Aqua", user="Alice")
    return len(found)


async def measure_lore_scan(
    rounds: int = 30,
    entries: int = limits.MAX_LORE_ENTRIES,
    keys: int = limits.MAX_LIST_ITEMS,
) -> dict[str, Any]:
    """Cold and warm scans of the limit book; times in milliseconds."""
    started = time.perf_counter()
    book = limit_book(entries, keys)
    built_s = time.perf_counter() - started
    activated, cold_s, cold_stall = await _with_ticker(lambda: _scan(book, window(0)))
    times, stalls, counts = [], [], []
    for round_ in range(1, rounds + 1):
        messages = window(round_)
        count, elapsed, stall = await _with_ticker(lambda m=messages: _scan(book, m))  # type: ignore[misc]
        times.append(elapsed * 1000)
        stalls.append(stall * 1000)
        counts.append(count)
    return {
        "entries": len(book.entries),
        "keys": sum(len(e.keys) + len(e.secondary_keys or ()) for e in book.entries),
        "window_messages": WINDOW_MESSAGES,
        "window_chars": sum(map(len, window(0))),
        "book_model_s": built_s,
        "cold_ms": cold_s * 1000,
        "cold_loop_stall_ms": cold_stall * 1000,
        "cold_activated": activated,
        "rounds": rounds,
        "warm_ms_p50": p50(times),
        "warm_ms_p95": p95(times),
        "warm_ms_max": max(times),
        "warm_loop_stall_ms_max": max(stalls),
        "warm_activated_p50": p50([float(c) for c in counts]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lore_scan", description=__doc__)
    parser.add_argument("--rounds", type=int, default=30, help="warm scans to time")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure_lore_scan(args.rounds)), indent=2))


if __name__ == "__main__":
    main()
