"""Upper bounds on what a character card may contain.

Cards come from strangers on the internet, so every size a card can claim is capped here, in
one place, before anything allocates in proportion to it. The numbers are generous: the
largest real cards (long lorebooks, many greetings) stay well under them.
"""

from __future__ import annotations

from typing import Final

from bot.common import images

MIB: Final = 1024 * 1024

DEFAULT_MAX_BYTES: Final = 20 * MIB
"""Largest uploaded file (PNG or JSON) ``parse_card`` accepts unless told otherwise."""

MAX_NAME_CHARS: Final = 100
MAX_TEXT_CHARS: Final = 100_000
"""Each text field: description, greetings, lorebook entry content, tags, notes, ..."""

MAX_LIST_ITEMS: Final = 1_000
"""Each list: alternate greetings, tags, sources, assets, keys of one lorebook entry, ..."""

MAX_LORE_ENTRIES: Final = 1_000
MAX_TOTAL_CHARS: Final = 8_000_000
"""Every text of the card together, extensions (as JSON) included."""

MAX_CARD_JSON_BYTES: Final = 16 * MIB
"""The card's JSON document, once out of its base64 / PNG wrapping."""

MAX_JSON_VALUES: Final = 300_000
"""Values (objects, arrays, strings, numbers, ...) in the card's JSON, counted from its text
before it is parsed: Python spends ~50-100 bytes on each, so this bounds what parsing costs.
A card with a 1,000-entry lorebook holds a few tens of thousands."""

MAX_JSON_DEPTH: Final = 64
"""Nesting of objects and arrays; real cards nest a handful of levels."""

MAX_IMAGE_PIXELS: Final = images.MAX_IMAGE_PIXELS
"""Width × height of a card image (the avatars' limit); checked from the header, before any
pixel is decoded."""

MAX_ANIMATION_FRAMES: Final = 256
MAX_ANIMATION_PIXELS: Final = 4 * MAX_IMAGE_PIXELS
"""Width × height × frames of an animated (APNG) card, all of which Pillow decodes."""

PNG_MAX_TEXT_CHUNK: Final = 24 * MIB
"""Largest inflated zTXt/iTXt chunk: room for the base64 of a maximal card JSON."""

PNG_MAX_TEXT_MEMORY: Final = 64 * MIB
"""All text chunks of one PNG together, after inflation."""
