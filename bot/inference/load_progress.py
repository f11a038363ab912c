"""How far a model load has got, measured rather than guessed.

ctransformers and llama.cpp report nothing while they load, but the kernel knows: a GGUF file
is mapped into memory (its resident pages show in /proc/self/smaps) and a GGML file is read
(the bytes show in /proc/self/io). Their share of the file's size is the progress; the rate so
far gives the time left. On systems without /proc the fraction stays unknown (None).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

REPORT_EVERY = 5.0  # seconds between progress lines in the log


def _resident_bytes(path: str) -> int:
    """Bytes of ``path`` mapped and resident in this process (0 when not mapped)."""
    total = 0
    inside = False
    with open("/proc/self/smaps", encoding="utf-8", errors="replace") as smaps:
        for line in smaps:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header line
                inside = line.rstrip("\n").endswith(path)
            elif inside and first == "Rss:":
                total += int(line.split()[1]) * 1024
    return total


def _bytes_read() -> int:
    with open("/proc/self/io", encoding="ascii") as io:
        for line in io:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


class LoadProgress:
    """Tracks one model load: ``fraction()`` done, ``seconds_left()`` estimated."""

    def __init__(self, model_path: str | os.PathLike[str]) -> None:
        path = Path(model_path)
        self._path = str(path.resolve()) if path.exists() else str(path)
        self._size = path.stat().st_size if path.is_file() else 0
        self._started = time.monotonic()
        self._read_at_start = self._safe(_bytes_read)

    def _safe(self, probe: object) -> int | None:
        try:
            return probe()  # type: ignore[operator,no-any-return]
        except (OSError, ValueError, IndexError):
            return None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def fraction(self) -> float | None:
        """Share of the file loaded so far, 0 to 1 (None when it cannot be measured)."""
        if not self._size:
            return None
        mapped = self._safe(lambda: _resident_bytes(self._path))
        read_now = self._safe(_bytes_read)
        read = (
            read_now - self._read_at_start
            if read_now is not None and self._read_at_start is not None
            else None
        )
        if mapped is None and read is None:
            return None
        return min(1.0, max(mapped or 0, read or 0) / self._size)

    def seconds_left(self) -> float | None:
        """Time left at the rate so far (None until there is a rate to go by)."""
        done = self.fraction()
        if done is None or done < 0.02 or self.elapsed < 1.0:
            return None
        return max(0.0, self.elapsed * (1 - done) / done)

    def describe(self) -> str:
        """For the log and for people waiting: '42% of 4.1 GB, about 30 s left'."""
        done = self.fraction()
        size = f"{self._size / 1e9:.1f} GB" if self._size >= 1e8 else f"{self._size / 1e6:.1f} MB"
        if done is None:
            return f"{self.elapsed:.0f} s so far"
        left = self.seconds_left()
        tail = f", about {left:.0f} s left" if left is not None else ""
        return f"{done:.0%} of {size} read{tail}"

    def busy_message(self) -> str:
        """What someone who asks for a reply while the model loads is told."""
        left = self.seconds_left()
        if left is None:
            return "The model is still loading; try again in a moment."
        return f"The model is still loading, about {max(1, round(left))} s to go; try again then."

    async def report(self, model: str, every: float = REPORT_EVERY) -> None:
        """Log progress every few seconds until cancelled."""
        while True:
            await asyncio.sleep(every)
            log.info("Loading %s: %s", model, self.describe())
