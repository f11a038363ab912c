"""Stop-sequence matching over a stream of text pieces.

Backends differ in how (and whether) they honour stop strings, and a stop sequence can arrive
split across several tokens. This holds back just enough text to never emit the beginning of a
stop sequence, so every backend streams the same clean text.
"""

from __future__ import annotations

from collections.abc import Sequence


class StopMatcher:
    """Feed pieces in, get safe-to-emit text out; ``stopped`` turns True at the first stop."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [s for s in dict.fromkeys(stops) if s]
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._buffer = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Add ``piece``; return the text that can be emitted now."""
        if self.stopped:
            return ""
        self._buffer += piece
        cut = self._first_stop(self._buffer)
        if cut is not None:
            self.stopped = True
            out, self._buffer = self._buffer[:cut], ""
            return out
        keep = self._partial_suffix_len(self._buffer)
        out = self._buffer[: len(self._buffer) - keep]
        self._buffer = self._buffer[len(out) :]
        return out

    def flush(self) -> str:
        """Return what was held back once the stream ends without a stop."""
        out, self._buffer = ("" if self.stopped else self._buffer), ""
        return out

    def _first_stop(self, text: str) -> int | None:
        hits = [i for i in (text.find(s) for s in self._stops) if i >= 0]
        return min(hits) if hits else None

    def _partial_suffix_len(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that is a proper prefix of a stop."""
        best = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(text)), best, -1):
                if stop.startswith(text[-n:]):
                    best = n
                    break
        return best
