"""Card JSON in and out of bytes, with every failure turned into a sentence for the user."""

from __future__ import annotations

import codecs
import json
import re

from bot.cards import limits
from bot.cards.model import json_depth
from bot.errors import InvalidInput

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


# After escaped backslashes and escaped quotes are blanked out, every '"' left opens or closes
# a string, so one simple pattern (a single-character repeat: no backtracking stack) empties
# every string; what is left is the document's structure.
_STRING = re.compile(r'"[^"]*"')


def _count_values(raw: bytes) -> int:
    """An upper bound on the number of values in the UTF-8 JSON ``raw``, without parsing it.

    Every value but the first of its container follows a comma; the first follows the
    container's opening bracket. The bytes are read as Latin-1: one byte per character, so
    the text is never wider than the file (a str holding one emoji takes four bytes per
    character), and UTF-8 never puts an ASCII byte inside a multi-byte character, so every
    quote, backslash, comma and bracket is where it is in the JSON. (A str, not bytes: sre's
    ``sub`` on bytes allocates a piece per match, ten times the memory.) Linear, in C.
    """
    structure = _structure(raw)
    return structure.count(",") + structure.count("[") + structure.count("{") + 1


def count_containers(raw: bytes) -> int:
    """An upper bound on the lists and objects in the UTF-8 JSON ``raw``, without parsing it
    (each costs some 60 bytes as a Python object even when empty: a file of ``[],`` is the
    costliest JSON per byte). Linear, in C, as :func:`_count_values`."""
    structure = _structure(raw)
    return structure.count("[") + structure.count("{")


def _structure(raw: bytes) -> str:
    """``raw`` read as Latin-1 with every string blanked to ``0``: what is left is the
    document's structure (see :func:`_count_values`)."""
    text = raw.decode("latin-1")
    blanked = text.replace("\\\\", "__").replace('\\"', "__")
    del text
    return _STRING.sub("0", blanked)


def _too_many_values() -> InvalidInput:
    # Checked before parsing: a few MiB of "[]," would cost gigabytes as Python objects.
    return InvalidInput(
        "The character card data holds too many values (more than "
        f"{limits.MAX_JSON_VALUES:,} texts, numbers, lists and objects)."
    )


def _reject_constant(name: str) -> object:
    # NaN and Infinity are not JSON; Python accepts them and would write them back out.
    raise ValueError(f"{name} is not allowed in JSON")


def decode_json(raw: bytes) -> object:
    """Parse card JSON bytes (UTF-8, with or without BOM; UTF-16 with BOM) into Python values."""
    if len(raw) > limits.MAX_CARD_JSON_BYTES:
        raise InvalidInput(
            f"The character card data is too large: {len(raw) / limits.MIB:.1f} MiB "
            f"(the limit is {limits.MAX_CARD_JSON_BYTES // limits.MIB} MiB)."
        )
    utf16 = raw.startswith(_UTF16_BOMS)
    if not utf16 and _count_values(raw) > limits.MAX_JSON_VALUES:
        raise _too_many_values()
    try:
        # Windows editors save UTF-16 with a BOM; everything else is UTF-8 (BOM optional).
        text = raw.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("The character card data is not valid UTF-8 text.") from None
    if utf16 and _count_values(text.encode("utf-8", "surrogatepass")) > limits.MAX_JSON_VALUES:
        raise _too_many_values()
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InvalidInput(
            f"The character card data is not valid JSON ({e.msg} at line {e.lineno}, "
            f"column {e.colno})."
        ) from None
    except RecursionError:
        raise InvalidInput("The character card JSON is nested too deeply.") from None
    except ValueError:  # NaN/Infinity, or an integer with thousands of digits
        raise InvalidInput(
            "The character card data is not valid JSON (it holds a number that is not allowed)."
        ) from None
    if json_depth(value) > limits.MAX_JSON_DEPTH:
        raise InvalidInput("The character card JSON is nested too deeply.")
    return value


def encode_json(value: object, *, indent: int | None = None) -> bytes:
    """UTF-8 JSON bytes; compact unless ``indent`` is given."""
    separators = (",", ":") if indent is None else (",", ": ")
    try:
        text = json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a JS string cut mid-emoji) has no UTF-8 form; \u-escapes keep it.
        text = json.dumps(value, ensure_ascii=True, indent=indent, separators=separators)
        return text.encode("ascii")
