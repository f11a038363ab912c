"""Turning raw model output into the character's reply.

The cleaner reads the output line by line and looks at each line once, so cleaning a streamed
reply costs time in proportion to its length (cleaning the whole text again at every token,
as before, was quadratic). It

* drops control characters (all but line breaks and tabs): they must reach neither Discord
  nor a terminal;
* ends the reply at a format marker (``<START>``, ``<|user|>``, ``</s>``...);
* ends it at a line where someone else starts speaking (``Bob:``, ``**Bob:**``, ``You:``);
* drops the character's own name where it opens a line (``Aqua:``, ``aqua:``, ``**Aqua:**``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Sentence ends, with closing quotes, asterisks (actions) or brackets that may follow them.
_SENTENCE_END = re.compile(r"[.!?…~][\"'”’*)\]_]*(?=\s|$)|\*(?=\s|$)")
_FORMAT_MARKERS = ("<START>", "<|user|>", "<|system|>", "<|model|>", "</s>", "<|endoftext|>")
_MARKER_OVERLAP = max(len(marker) for marker in _FORMAT_MARKERS) - 1
# C0 and C1 controls and DEL, but not the tab or the line break.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MARKUP = r"[*_~`]*"  # markdown a model puts around a name: **Bob:**, *Bob*:, __Bob__:
# A label can only be this much longer than the name it holds (spaces and markdown).
_LABEL_SLACK = 24


def _label(names: str) -> re.Pattern[str]:
    """``Name:`` at the start of a line, in markdown or not, with the spaces after it."""
    return re.compile(
        rf"[ \t]*{_MARKUP}[ \t]*(?:{names})[ \t]*{_MARKUP}[ \t]*:{_MARKUP}[ \t]*", re.IGNORECASE
    )


class ReplyCleaner:
    """Cleans a reply as it streams in: ``feed`` the pieces, read ``text()`` at any time."""

    def __init__(self, *, character_name: str, speakers: Sequence[str] = ()) -> None:
        others = [re.escape(s) for s in speakers if s.casefold() != character_name.casefold()]
        others.append("You")
        self._own = _label(re.escape(character_name))
        self._other = _label("|".join(others))
        self._head = max(len(name) for name in [character_name, *speakers, "You"]) + _LABEL_SLACK
        self._lines: list[str] = []  # finished lines, cleaned
        self._done = ""  # the finished lines joined: read at every piece, so kept joined
        self._line: list[str] = []  # the raw pieces of the line being written
        self._line_length = 0
        self._start: int | None = None  # where the line's words begin (after an own label)
        self.cut = False  # the reply ended (someone else's line or a marker): ignore the rest

    def feed(self, piece: str) -> None:
        """Add the next piece of raw output."""
        if self.cut or not piece:
            return
        piece = _CONTROL.sub("", piece)
        while piece and not self.cut:
            head, newline, piece = piece.partition("\n")
            self._append(head)
            if newline and not self.cut:
                self._finish_line()

    def text(self) -> str:
        """The cleaned reply so far (it may still lose its last line to a label)."""
        current = self._visible_line() if self._line and not self.cut else None
        if current is None:
            return self._done.strip()
        return (f"{self._done}\n{current}" if self._lines else current).strip()

    def result(self, *, truncated: bool = False) -> str:
        """The cleaned reply once the output has ended.

        ``truncated`` says the model was cut off by the token limit, so a trailing fragment is
        dropped back to the last complete sentence (when there is one). May return "": the
        caller decides what an empty reply means."""
        if self._line and not self.cut:
            self._finish_line()
        text = "\n".join(self._lines).strip()
        return _drop_unfinished_sentence(text) if truncated else text

    def _append(self, text: str) -> None:
        if not text:
            return
        # A marker may straddle two pieces: look at the end of the line too, once.
        tail = "".join(self._line)[-_MARKER_OVERLAP:] if self._line else ""
        window = tail + text
        cuts = [at for at in (window.find(m) for m in _FORMAT_MARKERS) if at >= 0]
        if cuts:
            keep = min(cuts) - len(tail)  # may be negative: the marker began in the tail
            line = "".join(self._line)
            line = line[: len(line) + keep] if keep < 0 else line + text[:keep]
            self._line, self._line_length = [line], len(line)
            self._finish_line()
            self.cut = True
            return
        self._line.append(text)
        self._line_length += len(text)
        if len(self._line) > 64:  # keep the tail lookup above cheap on a long line
            self._line = ["".join(self._line)]
        if self._start is None and self._label_end() is None:
            self._line, self._line_length = [], 0
            self.cut = True  # someone else's line: nothing after it is the character's

    def _visible_line(self) -> str | None:
        start = self._label_end()
        return None if start is None else "".join(self._line)[start:]

    def _label_end(self, *, final: bool = False) -> int | None:
        """Where the current line's words begin; None when it is someone else's line."""
        if self._start is not None:
            return self._start
        line = "".join(self._line)
        if len(line) < self._head and not final:
            return None if self._other.match(line) else self._own_labels(line)
        start = self._own_labels(line)
        if start is not None:
            self._start = start
        return start

    def _own_labels(self, line: str) -> int | None:
        start = 0
        while True:
            if self._other.match(line, start):
                return None
            match = self._own.match(line, start)
            if match is None or match.end() == start:
                return start
            start = match.end()

    def _finish_line(self) -> None:
        start = self._label_end(final=True)
        line = "".join(self._line)
        self._line, self._line_length, self._start = [], 0, None
        if start is None:
            self.cut = True
            return
        if start > 0 and not line[start:].strip():
            return  # only the character's own label: the words follow on the next line
        self._done = f"{self._done}\n{line[start:]}" if self._lines else line[start:]
        self._lines.append(line[start:])


def clean_reply(
    raw: str,
    *,
    character_name: str,
    speakers: Sequence[str] = (),
    truncated: bool = False,
) -> str:
    """Clean a whole reply at once: see ``ReplyCleaner``."""
    cleaner = ReplyCleaner(character_name=character_name, speakers=speakers)
    cleaner.feed(raw)
    return cleaner.result(truncated=truncated)


def _drop_unfinished_sentence(text: str) -> str:
    ends = list(_SENTENCE_END.finditer(text))
    if not ends:
        return text
    last = ends[-1].end()
    return text[:last].rstrip() if last < len(text) else text
