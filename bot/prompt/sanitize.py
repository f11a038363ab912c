"""Keeping user text inside its own turn.

Whatever people type (or a model wrote earlier) is data, never prompt structure: a ``<START>``,
a ``<|system|>`` or a line that begins ``Someone:`` inside a message must not open a new
section or a new turn. Stored text is kept as written; this runs when the prompt is rendered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from bot.characters.lookalike import COLONS, skeleton, visible_name, visible_text

MAX_SPEAKER_NAME = 40
# Every prompt renders its whole window again: remembering the recent lines' results (pure
# functions of their arguments) saves most of the render. Enough for ~80 busy windows.
LINES_REMEMBERED = 16_384

# Format tokens of both prompt formats, in the spellings a model would still recognise.
_FORMAT_TOKENS = re.compile(
    r"<\s*start\s*>|<\s*\|\s*(?:system|user|model|endoftext)\s*\|\s*>|<\s*/?\s*s\s*>",
    re.IGNORECASE,
)
# A line that could pass for a dialogue turn: one with a colon (or anything that looks like
# one) anywhere, since a long name or padding also makes a label. Joining such a line to the
# previous one costs nothing but a line break, so the test is deliberately broad.
# Blank lines before such a line go with it, so one pass joins them all (not one per pass).
_SPEAKER_PREFIX = re.compile(rf"\n(?:[ \t]*\n)*[ \t]*(?=[^\n]*[{COLONS}])")
_COLON = re.compile(rf"[{COLONS}]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u0085]")
# Words people write before a colon inside a reply ("Note: the door is locked"). A member
# named like one is told apart in the prompt, so that such a line does not end the reply.
LABEL_WORDS = frozenset(
    "note notes edit update ps p.s warning tip hint summary ooc scene narrator system "
    "action thoughts status time location answer question example".split()
)


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
    return re.compile(r"\n[ \t]*(?=(?:" + "|".join(alternatives) + rf")[ \t]*[{COLONS}])")


@lru_cache(maxsize=LINES_REMEMBERED)
def neutralize(text: str, names: re.Pattern[str] | None = None) -> str:
    """Return ``text`` with format tokens defused and turn-like lines joined to the previous one.

    ``<START>`` becomes ``[START]``, ``<|system|>`` becomes ``[system]``; a line break that is
    followed by a line holding a colon (``Name:``, ``Name：``, a known name matched by
    ``names``) becomes a space, so the line cannot pass for a new speaker's turn. Compatibility
    forms are folded (NFKC) and invisible characters dropped first, so neither hides a colon.
    """
    text = defuse_tokens(visible_text(text))
    while True:  # joining can make a new turn-like line (after an empty one): repeat until none
        joined = _SPEAKER_PREFIX.sub(" ", text)
        if names is not None:
            joined = names.sub(" ", joined)
        if joined == text:
            return text.strip()
        text = joined


@lru_cache(maxsize=LINES_REMEMBERED)
def speaker_name(raw: str, *, character_name: str | None = None, cast: tuple[str, ...] = ()) -> str:
    """A display name made safe to stand before a colon at the start of a prompt line.

    A person whose display name looks like the character's (the same letters in another case
    or script, with invisible characters) is told apart, so their lines never pass for the
    character's own; so is one named like a word that opens ordinary lines (``Note``). In a
    group scene ``cast`` names the other characters: a name exactly one of theirs is that
    character's line, a name that only looks like one is a member's, and told apart too.
    """
    name = _FORMAT_TOKENS.sub(_defuse_token, visible_name(raw))
    name = _COLON.sub(" ", _CONTROL.sub(" ", name))
    name = " ".join(name.split())[:MAX_SPEAKER_NAME].strip() or "Someone"
    if character_name is None or name in cast:
        return name
    look = skeleton(name)
    protected = (character_name, *cast)
    if name.casefold() in LABEL_WORDS or any(look == skeleton(other) for other in protected):
        name = f"{name} (user)"
    return name
