"""The one place embeds are made: whatever goes in, what Discord receives fits its limits.

Discord refuses a whole message whose embed breaks one rule (Resources > Message > Embed
Limits): title 256, description 4096, at most 25 fields, field name 256 and value 1024 (both
required, so never empty), footer text 2048, author name 256, and 6,000 characters across every
embed of one message, at most 10 embeds. Texts are counted after trimming, as Discord does.

Cogs build an :class:`Embed` as they would a ``discord.Embed``; its payload is fitted when
discord.py sends it: each text is cut to its limit with a visible "…", a blank field gets a
dash, fields past 25 become one "more" line, and past 6,000 the longest texts are shortened
first. Lists of ids go through :func:`listing`, which cuts between items, not inside a mention.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import discord

from bot.errors import shown

BLANK = "—"  # what a required value shows when it has nothing to say
MAX_EMBEDS = 10
TOTAL = 6000
TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER_TEXT = 2048
AUTHOR_NAME = 256
_SHORTEST = 2  # a text shortened for the total keeps at least one character and the "…"


def clip(text: str, limit: int) -> str:
    """``text`` trimmed, and cut to ``limit`` characters with a visible "…" when longer."""
    return shown(text, limit)


def listing(items: Sequence[str], limit: int = FIELD_VALUE, separator: str = ", ") -> str:
    """Items joined, cut between items (never inside one) with "… and N more" past ``limit``."""
    full = separator.join(items)
    if len(full) <= limit:
        return full
    used = 0
    for count, item in enumerate(items):
        cost = len(item) + (len(separator) if count else 0)
        note = f"{separator}… and {len(items) - count - 1} more"
        if used + cost + len(note) > limit:
            if count == 0:
                return clip(f"{len(items)} items", limit)
            return separator.join(items[:count]) + f"{separator}… and {len(items) - count} more"
        used += cost
    return full  # not reached: the whole text was longer than the limit


def _slots(data: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Where the texts that count towards the 6,000 total live: (owner dict, key)."""
    slots = [(data, key) for key in ("title", "description") if data.get(key)]
    for field in data.get("fields", []):
        slots += [(field, "name"), (field, "value")]
    if "footer" in data:
        slots.append((data["footer"], "text"))
    if "author" in data:
        slots.append((data["author"], "name"))
    return slots


def _required(owner: dict[str, Any], key: str, limit: int) -> None:
    owner[key] = clip(str(owner.get(key) or ""), limit) or BLANK


def fit_embed(data: dict[str, Any], budget: int = TOTAL) -> dict[str, Any]:
    """A copy of one embed's payload that Discord accepts, using at most ``budget`` characters."""
    data = copy.deepcopy(data)
    for key, limit in (("title", TITLE), ("description", DESCRIPTION)):
        if key in data:
            data[key] = clip(str(data[key] or ""), limit)
            if not data[key]:
                del data[key]
    fields = data.get("fields") or []
    if len(fields) > FIELDS:
        hidden = len(fields) - (FIELDS - 1)
        fields = [*fields[: FIELDS - 1], {"name": "More", "value": f"{hidden} more not shown"}]
    for field in fields:
        _required(field, "name", FIELD_NAME)
        _required(field, "value", FIELD_VALUE)
    if fields:
        data["fields"] = fields
    else:
        data.pop("fields", None)
    for key, text_key, limit in (("footer", "text", FOOTER_TEXT), ("author", "name", AUTHOR_NAME)):
        if key in data:
            text = clip(str(data[key].get(text_key) or ""), limit)
            if text:
                data[key][text_key] = text
            else:
                del data[key]  # an optional part whose required text is empty: leave it out
    _shorten_to(data, budget)
    return data


def _shorten_to(data: dict[str, Any], budget: int) -> None:
    """Shorten the longest texts until the embed's total fits ``budget``."""
    slots = _slots(data)
    excess = sum(len(owner[key]) for owner, key in slots) - budget
    while excess > 0:
        owner, key = max(slots, key=lambda slot: len(slot[0][slot[1]]))
        current = len(owner[key])
        if current <= _SHORTEST:
            return  # nothing left to shorten (cannot happen within 25 fields and 6,000)
        target = max(_SHORTEST, current - excess)
        owner[key] = clip(owner[key], target)
        excess -= current - len(owner[key])


def fit_embeds(payloads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Several embeds of one message: at most 10, sharing the 6,000-character total."""
    kept = list(payloads[:MAX_EMBEDS])
    fitted = [fit_embed(p) for p in kept]
    total = sum(_size(p) for p in fitted)
    if total <= TOTAL:
        return fitted
    # Each embed gets a share of the total in proportion to what it holds.
    return [fit_embed(p, max(1, TOTAL * _size(p) // total)) for p in fitted]


def _size(data: dict[str, Any]) -> int:
    return sum(len(owner[key]) for owner, key in _slots(data))


class Embed(discord.Embed):
    """A ``discord.Embed`` whose payload always fits Discord's limits (see the module doc)."""

    __slots__ = ()

    def to_dict(self) -> Any:
        return fit_embed(dict(super().to_dict()))
