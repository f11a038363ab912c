"""A synthetic SentencePiece-style vocabulary of 32,000 pieces for the benchmark models.

Real llama vocabularies cannot be shipped or downloaded here, so one is built from English
text that ships with Python (``pydoc_data.topics``, the language reference) plus the words the
benchmark conversations use. Each word gets a chain of pieces (``▁w``, ``▁wo``, ``▁wor``,
``▁word``, and the same without ``▁`` for text glued to punctuation), so llama.cpp's SPM
merge algorithm builds whole words as single tokens; 256 byte pieces make every text
tokenisable; synthetic syllable pieces fill the rest, as rare pieces fill a real vocabulary.
The token-per-character ratio of English prose comes out close to a real llama tokenizer's
(printed by ``python -m bench models``).
"""

from __future__ import annotations

import itertools
import re
import string
from collections import Counter
from dataclasses import dataclass

from bench.conversation import vocabulary_words

VOCAB_SIZE = 32_000
WORD_MARK = "▁"
UNKNOWN, CONTROL, NORMAL, BYTE = 2, 3, 1, 6  # llama.cpp token types
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ar", "en")]


@dataclass(frozen=True, slots=True)
class Vocabulary:
    tokens: list[str]
    scores: list[float]
    types: list[int]


def _corpus_words() -> list[str]:
    """English words by frequency: the bench's own words first, then Python's reference docs."""
    from pydoc_data.topics import topics

    counts = Counter(re.findall(r"[A-Za-z]+", "\n".join(topics.values())))
    by_frequency = [word for word, _ in counts.most_common()]
    return list(dict.fromkeys([*vocabulary_words(), *by_frequency]))


def _chains(word: str, mark: str) -> list[str]:
    return [mark + word[:end] for end in range(1, len(word) + 1)]


def build_vocabulary(size: int = VOCAB_SIZE) -> Vocabulary:
    """Special tokens, 256 byte pieces, characters, word chains, then syllable filler."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [UNKNOWN, CONTROL, CONTROL]
    tokens += [f"<0x{byte:02X}>" for byte in range(256)]
    types += [BYTE] * 256
    pieces: dict[str, None] = {WORD_MARK: None}
    for char in string.ascii_letters + string.digits + string.punctuation:
        pieces[WORD_MARK + char] = None
        pieces[char] = None
    words = _corpus_words()
    for word in words:
        pieces.update(dict.fromkeys(_chains(word, WORD_MARK)))
    for word in words[:4000]:
        pieces.update(dict.fromkeys(_chains(word, "")))
    room = size - len(tokens)
    for length in itertools.count(2):
        if len(pieces) >= room:
            break
        for combo in itertools.product(_SYLLABLES, repeat=length):
            if len(pieces) >= room:
                break
            pieces[WORD_MARK + "".join(combo)] = None
    ordered = list(pieces)[:room]
    tokens += ordered
    types += [NORMAL] * len(ordered)
    # SPM merges pick the highest score first; earlier (more frequent) pieces score higher.
    scores = [0.0] * (3 + 256) + [-float(rank) for rank in range(len(ordered))]
    return Vocabulary(tokens=tokens, scores=scores, types=types)
