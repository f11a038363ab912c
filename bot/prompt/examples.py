"""Example dialogue: the ``<START>``-separated blocks that show how a character talks."""

from __future__ import annotations

import re

_START = re.compile(r"^\s*<\s*start\s*>\s*$", re.IGNORECASE | re.MULTILINE)
_MACRO = re.compile(r"\{\{\s*(char|user)\s*\}\}|<(BOT|USER)>", re.IGNORECASE)


def substitute_names(text: str, *, char: str, user: str) -> str:
    """Replace ``{{char}}``/``<BOT>`` and ``{{user}}``/``<USER>`` (any case) with the names."""

    def name(match: re.Match[str]) -> str:
        which = (match.group(1) or match.group(2)).lower()
        return char if which in ("char", "bot") else user

    return _MACRO.sub(name, text)


def split_example_blocks(example_dialogue: str) -> list[str]:
    """Split example dialogue at its ``<START>`` lines into non-empty blocks."""
    blocks = _START.split(example_dialogue.replace("\r\n", "\n"))
    return [block.strip("\n").strip() for block in blocks if block.strip()]
