"""The placeholders card text uses, and the ``{{original}}`` rule of prompt overrides.

Cards write ``{{char}}`` and ``{{user}}`` (any case, as SillyTavern matches them) and the
legacy TavernAI forms ``<BOT>`` and ``<USER>``; V3 adds ``<char>``. They are all replaced in
one pass, so a name that itself contains ``{{user}}`` is not expanded again.
"""

from __future__ import annotations

import re

_MACRO = re.compile(r"\{\{(char|user)\}\}|<(bot|char|user)>", re.IGNORECASE)
_ORIGINAL = re.compile(r"\{\{original\}\}", re.IGNORECASE)


def substitute_macros(text: str, *, char: str, user: str) -> str:
    """Replace ``{{char}}``/``<BOT>``/``<CHAR>`` with ``char`` and ``{{user}}``/``<USER>`` with
    ``user``, case-insensitively. For V3 cards pass ``card.display_name`` (the nickname when
    there is one) as ``char``."""

    def replace(match: re.Match[str]) -> str:
        macro = (match.group(1) or match.group(2)).lower()
        return user if macro == "user" else char

    return _MACRO.sub(replace, text)


def apply_override(card_value: str | None, default_value: str) -> str:
    """The prompt to use when a card's ``system_prompt`` or ``post_history_instructions``
    overrides Galatea's ``default_value``.

    Per the V2 spec an empty card value keeps the default (we count whitespace-only as empty
    too), and ``{{original}}`` in the card's text stands for the default. Like SillyTavern,
    only the first ``{{original}}`` expands; later ones are dropped, so a card cannot repeat
    the default prompt many times over.
    """
    if card_value is None or not card_value.strip():
        return default_value
    expanded = False

    def replace(_: re.Match[str]) -> str:
        nonlocal expanded
        if expanded:
            return ""
        expanded = True
        return default_value

    return _ORIGINAL.sub(replace, card_value)
