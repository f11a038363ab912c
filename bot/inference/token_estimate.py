"""A conservative token count for backends that cannot count exactly, and a small count cache.

When a backend has no tokenizer (a hosted endpoint, or a server without a tokenize endpoint),
the prompt builder still needs to know how much history fits in the context. The estimate
here deliberately *over*counts:

* An overcount only costs history: a few old messages are dropped that would have fitted.
* An undercount overflows the context: the server rejects the request or silently cuts the
  beginning of the prompt (the character's persona), which is far worse for roleplay.

The weights are chosen against the tokenizers Pygmalion-family models use (GPT-2/GPT-NeoX
byte-level BPE and LLaMA SentencePiece with byte fallback):

* ASCII letters and spaces: 1/3 token each. English averages about 4 characters per token,
  so this overcounts ordinary prose by roughly a third.
* ASCII digits: 1 token each (LLaMA splits numbers into single digits).
* Other ASCII (punctuation, newlines, symbols): 1 token each; roleplay text is full of
  ``*actions*`` and quotes that rarely merge with the neighbouring word.
* Non-ASCII characters: by UTF-8 length. 2-byte characters (accented Latin, Cyrillic, Greek)
  count 1, 3-byte characters (CJK, most other scripts) count 2, 4-byte characters (emoji)
  count 4, since byte-fallback tokenizers may spend one token per byte on them. This
  overcounts Cyrillic heavily; that is the price of never undercounting CJK and emoji.

The result is rounded up, so any non-empty text counts at least one token.
"""

from __future__ import annotations

import math
from collections import OrderedDict

_WORD_CHAR_WEIGHT = 1 / 3
_DIGIT_WEIGHT = 1.0
_OTHER_ASCII_WEIGHT = 1.0
_NON_ASCII_WEIGHT_BY_UTF8_LENGTH = {2: 1.0, 3: 2.0, 4: 4.0}


def _char_weight(char: str) -> float:
    code = ord(char)
    if code < 128:
        if char.isalpha() or char == " ":
            return _WORD_CHAR_WEIGHT
        if char.isdigit():
            return _DIGIT_WEIGHT
        return _OTHER_ASCII_WEIGHT
    utf8_length = 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return _NON_ASCII_WEIGHT_BY_UTF8_LENGTH[utf8_length]


def estimate_tokens(text: str) -> int:
    """An upper-leaning estimate of the tokens ``text`` occupies (no BOS). See module doc."""
    if not text:
        return 0
    return max(1, math.ceil(sum(_char_weight(char) for char in text)))


class TokenCountCache:
    """A small least-recently-used map from text to token count.

    Prompt builders recount the same chat messages on every turn; remembering recent counts
    saves a round trip to the server (or a tokenizer call) per message.
    """

    def __init__(self, max_entries: int = 2048) -> None:
        self._max_entries = max_entries
        self._counts: OrderedDict[str, int] = OrderedDict()

    def get(self, text: str) -> int | None:
        count = self._counts.get(text)
        if count is not None:
            self._counts.move_to_end(text)
        return count

    def put(self, text: str, count: int) -> None:
        self._counts[text] = count
        self._counts.move_to_end(text)
        while len(self._counts) > self._max_entries:
            self._counts.popitem(last=False)

    def clear(self) -> None:
        self._counts.clear()
