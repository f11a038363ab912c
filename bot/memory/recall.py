"""Which words of the current message may name something said long ago.

Recall looks for old lines sharing the message's names, places and objects. Without a model
to tell nouns apart, a word qualifies when it is capitalised inside a sentence (a name) or
long and not one of the commonest English words; capitalised words come first. The database's
full-text index (bot/store/memory.py) finds the newest lines holding any of the words;
``best_lines`` keeps those that share a name or at least two words with the message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.values import RecalledLine, StoredMessage

MAX_TERMS = 8
MIN_LENGTH = 4
_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
# Words too common to point at anything; the index stems, so one form of each is enough.
_COMMON = frozenset(
    """
    about above after again against also always another anyone anything around away back
    because been before being below between both cannot come comes could didn does doesn doing
    done down each even ever every first from gets give goes going gone good have having here
    hers herself himself into just know knows like little look looks made make many maybe more
    most much must never next nothing only other over really right said same says see seem
    should since some something still such sure take tell than that thats their them then there
    these they thing things think this those though through time told under until upon very
    want wants well went were what when where which while will with without would yeah your
    yours yourself okay please thank thanks sorry hello today tomorrow tonight
    """.split()
)


@dataclass(frozen=True, slots=True)
class Terms:
    names: tuple[str, ...]  # capitalised inside a sentence, casefolded
    words: tuple[str, ...]  # long and uncommon, casefolded

    @property
    def all(self) -> list[str]:
        return [*self.names, *self.words]


def search_terms(message: str) -> Terms:
    """Up to MAX_TERMS distinct words of ``message`` worth looking up, names first."""
    names: list[str] = []
    words: list[str] = []
    start_of_sentence = True
    for match in _WORD.finditer(message):
        word = match.group().strip("'’-")
        before = message[max(0, match.start() - 2) : match.start()]
        if any(mark in before for mark in ".!?\n"):
            start_of_sentence = True
        key = word.casefold()
        if len(word) >= 3 and word[0].isupper() and not start_of_sentence and key not in _COMMON:
            names.append(key)
        elif len(word) >= MIN_LENGTH and key not in _COMMON:
            words.append(key)
        start_of_sentence = False
    unique_names = list(dict.fromkeys(names))[:MAX_TERMS]
    longest = sorted(
        dict.fromkeys(w for w in words if w not in unique_names), key=len, reverse=True
    )
    return Terms(tuple(unique_names), tuple(longest[: MAX_TERMS - len(unique_names)]))


def forgotten(terms: Terms, window: Sequence[StoredMessage], said: StoredMessage) -> Terms:
    """The terms the window no longer holds: a word still in view (in another line, or a
    speaker's name) needs no recall, so most turns look nothing up and the prompt's end
    stays as it was, which keeps a backend's cached prompt reusable."""
    seen = {m.speaker.casefold() for m in window}
    text = "\n".join(m.content for m in window if m.id != said.id).casefold()

    def gone(term: str) -> bool:
        return term not in seen and _stem(term) not in text

    return Terms(tuple(n for n in terms.names if gone(n)), tuple(w for w in terms.words if gone(w)))


def _stem(word: str) -> str:
    """Enough of a word to find its other forms (lantern, lanterns; hid, hiding)."""
    return word[: max(MIN_LENGTH, len(word) - 2)]


def best_lines(candidates: Sequence[RecalledLine], terms: Terms, limit: int) -> list[RecalledLine]:
    """The candidates sharing a name, or two words, with the message: most shared first,
    then newest."""
    names = [_stem(n) for n in terms.names]
    words = [_stem(w) for w in terms.words]
    scored = []
    for line in candidates:
        text = line.content.casefold()
        score = 2 * sum(n in text for n in names) + sum(w in text for w in words)
        if score >= 2:
            scored.append((score, line.id, line))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [line for *_, line in scored[:limit]]
