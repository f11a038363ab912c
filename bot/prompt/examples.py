"""Example dialogue: the ``<START>``-separated blocks that show how a character talks.

Names in it (``{{char}}``, ``{{user}}``, ``<BOT>``, ``<USER>``) are filled in with
``bot.cards.substitute_macros``, like every other text of a character.
"""

from __future__ import annotations

import re

# Anywhere in the text, as SillyTavern splits it: "<START>{{user}}: Hi" opens a block too.
_START = re.compile(r"<\s*start\s*>", re.IGNORECASE)


def split_example_blocks(example_dialogue: str) -> list[str]:
    """Split example dialogue at every ``<START>`` (on its own line or not) into non-empty
    blocks."""
    blocks = _START.split(example_dialogue.replace("\r\n", "\n"))
    return [block.strip("\n").strip() for block in blocks if block.strip()]
