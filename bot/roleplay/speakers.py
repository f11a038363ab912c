"""Who speaks next in a group scene, after a member's message.

The characters named in the message (or the one it replies to) answer, in the order they are
named; when nobody is addressed, each character speaks up with the chance its talkativeness
gives (SillyTavern's group-chat rule), and when none does, one is drawn weighted by
talkativeness. Never more than ``limit`` characters answer one message, and only members'
messages draw replies: characters cannot keep talking among themselves.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

MIN_WEIGHT = 0.05  # a silent character can still be drawn when nobody else speaks up


@dataclass(frozen=True, slots=True)
class Candidate:
    character_id: int
    name: str
    talkativeness: float = 0.5


def named_in(content: str, candidates: Sequence[Candidate]) -> list[int]:
    """The characters whose names appear in ``content`` (whole words), in order of appearance."""
    found: list[tuple[int, int]] = []
    for candidate in candidates:
        match = re.search(
            r"(?<!\w)" + re.escape(candidate.name) + r"(?!\w)", content, re.IGNORECASE
        )
        if match is not None:
            found.append((match.start(), candidate.character_id))
    return [character_id for _, character_id in sorted(found)]


def choose_speakers(
    content: str,
    candidates: Sequence[Candidate],
    *,
    limit: int,
    replied_to: int | None = None,
    addressed_only: bool = False,
    rng: random.Random | None = None,
) -> list[int]:
    """The ids of the characters who answer, in speaking order (at most ``limit``).

    ``replied_to``: the character whose message this one replies to. ``addressed_only``: no
    talkativeness draw (reply mode ``mention``): only named or replied-to characters answer.
    """
    if not candidates or limit < 1:
        return []
    known = {c.character_id for c in candidates}
    addressed = [replied_to] if replied_to in known else []
    addressed += [c for c in named_in(content, candidates) if c not in addressed]
    if addressed or addressed_only:
        return addressed[:limit]
    rng = rng or random.Random()
    order = list(candidates)
    rng.shuffle(order)
    eager = [c.character_id for c in order if rng.random() < _clamp(c.talkativeness)]
    if eager:
        return eager[:limit]
    weights = [max(_clamp(c.talkativeness), MIN_WEIGHT) for c in candidates]
    return [rng.choices(list(candidates), weights=weights)[0].character_id]


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))
