"""Fitting text into Discord messages."""

from __future__ import annotations

import re

MESSAGE_LIMIT = 2000
WEBHOOK_NAME_LIMIT = 80


def split_message(
    text: str, limit: int = MESSAGE_LIMIT, *, prefix: str = "", suffix: str = ""
) -> list[str]:
    """Split ``text`` into pieces that each fit one message once ``prefix`` and ``suffix`` are
    added (``len(prefix + piece + suffix) <= limit``): at paragraph, then line, then sentence,
    then word boundaries, and only mid-word when a word is longer than the room left.

    Every message Galatea posts goes through here with the decoration it will carry (a plain
    message's ``**Name**: ``, a streamed text's `` …``), so none passes Discord's 2,000."""
    limit -= len(prefix) + len(suffix)
    if limit < 1:
        raise ValueError("the prefix and suffix leave no room for text")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for pattern in (r"\n\s*\n", r"\n", r"(?<=[.!?…])\s", r"\s"):
            matches = [m for m in re.finditer(pattern, window) if 0 < m.start() <= limit]
            if matches:
                cut = matches[-1].start()
                break
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def webhook_name(name: str) -> str:
    """A character name Discord accepts as a webhook user name (no "discord"/"clyde", ≤ 80)."""
    safe = re.sub(
        "discord", lambda m: m.group(0).replace("o", "0").replace("O", "0"), name, flags=re.I
    )
    safe = re.sub("clyde", lambda m: m.group(0)[:-1] + "3", safe, flags=re.I)
    return safe.strip()[:WEBHOOK_NAME_LIMIT] or "Character"
