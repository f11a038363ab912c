"""Keeping user text inside its own turn.

Whatever people type (or a model wrote earlier) is data, never prompt structure: a ``<START>``,
a ``<|system|>`` or a line that begins ``Someone:`` inside a message must not open a new
section or a new turn. Stored text is kept as written; this runs when the prompt is rendered.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

MAX_SPEAKER_NAME = 40
# Every prompt renders its whole window again: remembering the recent lines' results (pure
# functions of their arguments) saves most of the render. Enough for ~80 busy windows.
LINES_REMEMBERED = 16_384

# Format tokens of both prompt formats, in the spellings a model would still recognise.
_FORMAT_TOKENS = re.compile(
    r"<\s*start\s*>|<\s*\|\s*(?:system|user|model|endoftext)\s*\|\s*>|<\s*/?\s*s\s*>",
    re.IGNORECASE,
)
# A line that could pass for a dialogue turn: a colon near its start. Joining such a line to
# the previous one costs nothing but a line break, so the test is deliberately broad.
_SPEAKER_PREFIX = re.compile(r"\n[ \t]*(?=[^\n:]{1,48}:)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u0085]")


def _defuse_token(match: re.Match[str]) -> str:
    inner = re.sub(r"[<>|\s]", "", match.group(0))
    return f"[{inner}]"


def defuse_tokens(text: str) -> str:
    """Defuse format tokens but keep the lines as they are (for personas and examples)."""
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _FORMAT_TOKENS.sub(_defuse_token, text).strip()


def names_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching a line break followed by ``Name:`` for any of ``names``."""
    alternatives = sorted({re.escape(n) for n in names if n}, key=len, reverse=True)
    if not alternatives:
        return None
    return re.compile(r"\n[ \t]*(?=(?:" + "|".join(alternatives) + r")[ \t]*:)")


@lru_cache(maxsize=LINES_REMEMBERED)
def neutralize(text: str, names: re.Pattern[str] | None = None) -> str:
    """Return ``text`` with format tokens defused and turn-like lines joined to the previous one.

    ``<START>`` becomes ``[START]``, ``<|system|>`` becomes ``[system]``; a line break that is
    followed by ``Name:`` (name-like text, or a known name matched by ``names``) becomes a
    space, so the line cannot pass for a new speaker's turn.
    """
    text = defuse_tokens(text)
    while True:  # joining can make a new turn-like line (after an empty one): repeat until none
        joined = _SPEAKER_PREFIX.sub(" ", text)
        if names is not None:
            joined = names.sub(" ", joined)
        if joined == text:
            return text.strip()
        text = joined


@lru_cache(maxsize=LINES_REMEMBERED)
def speaker_name(raw: str, *, character_name: str | None = None) -> str:
    """A display name made safe to stand before a colon at the start of a prompt line.

    A person whose display name equals the character's is told apart, so their lines never
    pass for the character's own.
    """
    name = unicodedata.normalize("NFKC", raw)
    name = _FORMAT_TOKENS.sub(_defuse_token, name)
    name = re.sub(r"[\s:]+", " ", _CONTROL.sub(" ", name)).strip()
    name = name[:MAX_SPEAKER_NAME].strip() or "Someone"
    if character_name is not None and name.casefold() == character_name.casefold():
        name = f"{name} (user)"
    return name
