"""Which words of the current message may name something said long ago.

Recall looks for old lines sharing the message's names, places and objects. Without a model
to tell nouns apart, a word qualifies when it is capitalised inside a sentence (a name) or
long and not one of the commonest English words; capitalised words come first. The database's
full-text index (bot/store/memory.py) does the matching and ranking.
"""

from __future__ import annotations

import re

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


def search_terms(message: str) -> list[str]:
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
    ordered = list(dict.fromkeys([*names, *sorted(words, key=len, reverse=True)]))
    return ordered[:MAX_TERMS]
