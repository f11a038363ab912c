"""TavernAI / SillyTavern character cards: import (V1, V2, V3; PNG, WebP, CHARX or JSON) and
export.

A pure library: no Discord, no storage. ``parse_card`` is CPU work (Pillow decodes the
image); call it in a worker thread or await ``import_card_async``.

    card = parse_card(data, "alice.png")           # InvalidInput says what is wrong
    png = export_card_png(card, 3)                 # ccv3 + V2-compatible chara chunks
    text = substitute_macros(card.persona, char=card.display_name, user="Sam")
    system = apply_override(card.system_prompt, DEFAULT_SYSTEM_PROMPT)
"""

from __future__ import annotations

from bot.cards.export import card_file_json, export_card_json, export_card_png
from bot.cards.limits import DEFAULT_MAX_BYTES
from bot.cards.macros import apply_override, substitute_macros
from bot.cards.model import Asset, CharacterCard, LoreBook, LoreEntry
from bot.cards.parse import card_from_json, import_card_async, parse_card

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Asset",
    "CharacterCard",
    "LoreBook",
    "LoreEntry",
    "apply_override",
    "card_file_json",
    "card_from_json",
    "export_card_json",
    "export_card_png",
    "import_card_async",
    "parse_card",
    "substitute_macros",
]
