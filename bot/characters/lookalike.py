"""Names that look alike: invisible characters, compatibility forms and confusable letters.

Two names a reader cannot tell apart ("Aqua", "Aqua" + a zero-width space, "Аqua" with a
Cyrillic А) must be one name to Galatea too. ``visible_name`` removes what cannot be seen;
``skeleton`` maps a name to a form in which look-alikes are equal, after Unicode's UTS #39
("skeleton": NFD, each character to its prototype from confusables.txt, NFD again), with the
prototypes below taken from confusables.txt for the scripts that imitate Latin letters
(Cyrillic, Greek, Armenian, IPA and small capitals, digits). Compatibility forms (full-width
and mathematical letters, ligatures) are folded by NFKC first; case and accents are ignored.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Default-ignorable and bidi-control code points (UTS #39 and UAX #9): soft hyphen, combining
# grapheme joiner, Arabic letter mark, Hangul fillers, Khmer inherent vowels, Mongolian
# selectors, zero-width space/joiners, LRM/RLM, embeddings and overrides, word joiner and
# invisible operators, isolates, variation selectors, BOM, shorthand controls, musical
# formatting, tags.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff]"
)
_SPACES = re.compile(r"\s+")
# Every colon a reader would take for one (confusables of U+003A, after NFKC).
COLONS = (
    ":\u02d0\u02f8\u0589\u05c3\u0703\u0704\u0903\u0a83\u16ec\u1803\u1809\u205a\u2236"
    "\ua789\ufe13\ufe55\uff1a"
)

# Prototype (lower case) of each look-alike of a Latin letter or digit, from confusables.txt.
_PROTOTYPES = {
    **dict.fromkeys("аɑαⱥ", "a"),
    **dict.fromkeys("вʙβ", "b"),
    **dict.fromkeys("сϲᴄⅽ", "c"),
    **dict.fromkeys("ԁᴅⅾ", "d"),
    **dict.fromkeys("еєҽᴇε", "e"),
    **dict.fromkeys("ғ", "f"),
    **dict.fromkeys("ɡցɢ", "g"),
    **dict.fromkeys("һհʜн", "h"),
    **dict.fromkeys("іıɩιӏɪ", "i"),
    **dict.fromkeys("јϳȷᴊ", "j"),
    **dict.fromkeys("кκᴋ", "k"),
    **dict.fromkeys("1|ⅼʟǀ׀ӀІΙ", "l"),
    **dict.fromkeys("мᴍ", "m"),
    **dict.fromkeys("ոɴпη", "n"),
    **dict.fromkeys("0оοօσᴏ", "o"),
    **dict.fromkeys("рρᴘ", "p"),
    **dict.fromkeys("ԛզ", "q"),
    **dict.fromkeys("ʀг", "r"),
    **dict.fromkeys("ѕꜱ", "s"),
    **dict.fromkeys("тτᴛ", "t"),
    **dict.fromkeys("սυᴜ", "u"),
    **dict.fromkeys("νѵᴠ", "v"),
    **dict.fromkeys("ԝѡᴡω", "w"),
    **dict.fromkeys("хχ", "x"),
    **dict.fromkeys("уүγʏ", "y"),
    **dict.fromkeys("ᴢ", "z"),
}
_TABLE = str.maketrans(_PROTOTYPES)


def visible_text(text: str) -> str:
    """``text`` in NFKC, without invisible or bidi-control characters (lines kept)."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


def visible_name(raw: str) -> str:
    """``raw`` in NFKC, without invisible or bidi-control characters, spaces collapsed."""
    return _SPACES.sub(" ", visible_text(raw)).strip()


@lru_cache(maxsize=4096)
def skeleton(name: str) -> str:
    """A form of ``name`` in which names that look alike are equal (see the module doc)."""
    text = visible_name(name).casefold().translate(_TABLE)
    text = unicodedata.normalize("NFD", text)
    text = "".join(char for char in text if not unicodedata.combining(char))
    return text.translate(_TABLE).replace(" ", "")


def looks_alike(first: str, second: str) -> bool:
    """Whether a reader could take one name for the other."""
    return skeleton(first) == skeleton(second)
