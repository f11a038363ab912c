"""Where a prompt's token count is the sum of its pieces' counts.

Tokenizers (SentencePiece-style BPE, GPT-2 BPE, greedy longest match) only ever join two
characters into one token when the vocabulary has a token that spans them. So at a place in
the text that no vocabulary token can span, the tokens on either side are what they would be
alone: the count of ``a + b`` is the count of ``a`` plus what ``b`` costs there. Checking the
vocabulary once lets the renderer add up cached per-line counts instead of re-tokenising a
prompt of thousands of tokens every turn.
"""

from __future__ import annotations

from collections.abc import Iterable


class JoinChecker:
    """Answers whether any token of a vocabulary can span the place between two texts."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        tokens: set[bytes] = set()
        prefixes: set[bytes] = set()
        longest = 1
        for piece in pieces:
            if len(piece) < 2:
                continue  # one byte cannot span anything
            tokens.add(piece)
            longest = max(longest, len(piece))
            for end in range(1, len(piece)):
                prefixes.add(piece[:end])
        self._tokens = frozenset(tokens)
        self._prefixes = frozenset(prefixes)
        self._longest = longest

    def safe(self, left: str, right: str) -> bool:
        """True when no token of the vocabulary has its start in ``left`` and its end in
        ``right`` (``left`` and ``right`` adjacent in the text)."""
        if not left or not right:
            return True
        tail = left[-self._longest :].encode("utf-8")
        head = right[: self._longest].encode("utf-8")
        for start in range(1, min(len(tail), self._longest - 1) + 1):
            end_of_left = tail[-start:]
            if end_of_left not in self._prefixes:
                continue  # no token begins with these bytes
            for length in range(1, min(len(head), self._longest - start) + 1):
                if end_of_left + head[:length] in self._tokens:
                    return False
        return True
