"""Which lorebook entries the conversation brings into the prompt.

The rules are SillyTavern's world info, so cards written for it behave the same here:

* an enabled entry activates when one of its ``keys`` appears in the last ``scan_depth``
  messages of the chat (the book's, 4 when it names none; an entry may override it with
  ``extensions.scan_depth``). Each message is scanned as ``Name: text``. Keys match as
  plain text, case-insensitively unless the entry is ``case_sensitive``; with
  ``extensions.match_whole_words`` they must stand as whole words. ``{{char}}`` and
  ``{{user}}`` work in keys;
* with ``selective`` and ``secondary_keys``, ``extensions.selectiveLogic`` decides: AND ANY
  (0, the default: one secondary key too), NOT ALL (1: not every secondary key), NOT ANY
  (2: no secondary key), AND ALL (3: every secondary key);
* ``constant`` entries are always active;
* a book with ``recursive_scanning`` scans the content of what it activated for further keys,
  at most ``MAX_RECURSION_STEPS`` rounds (``extensions.exclude_recursion``: the entry is not
  activated that way; ``extensions.prevent_recursion``: its content activates nothing);
* activated entries spend the book's ``token_budget`` (a quarter of the context when it
  names none, never more than half) by ``insertion_order``, highest first, as SillyTavern
  does; in the prompt they stand lowest order first, ``before_char`` or ``after_char``.

Regular-expression keys (V3 ``use_regex``) are matched as plain text: a pattern from a
stranger's card could stall the bot. Probability, timed effects and inclusion groups (other
SillyTavern extensions) are not applied: those entries simply activate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from pydantic import JsonValue

from bot.cards import LoreBook, LoreEntry, substitute_macros

DEFAULT_SCAN_DEPTH = 4
MAX_SCAN_DEPTH = 100
MAX_RECURSION_STEPS = 3
DEFAULT_BUDGET_SHARE = 0.25  # of the context, when a book names no token_budget
MAX_BUDGET_SHARE = 0.5
# Between scanned messages: a non-word character, so a whole-word key never spans two.
_JOIN = "\n\x01"


class Logic(IntEnum):
    """SillyTavern's ``selectiveLogic`` for secondary keys."""

    AND_ANY = 0
    NOT_ALL = 1
    NOT_ANY = 2
    AND_ALL = 3


@dataclass(frozen=True, slots=True)
class Activation:
    """An entry the conversation activated, its content with the names filled in."""

    entry: LoreEntry
    content: str
    before_char: bool

    @property
    def order(self) -> float:
        return float(self.entry.insertion_order)


def book_budget(book: LoreBook, context_length: int) -> int:
    """How many tokens a book's entries may take together in a prompt."""
    cap = int(context_length * MAX_BUDGET_SHARE)
    wanted = book.token_budget
    if wanted is None or wanted <= 0:
        return min(cap, int(context_length * DEFAULT_BUDGET_SHARE))
    return min(cap, int(wanted))


def scan_book(book: LoreBook, messages: Sequence[str], *, char: str, user: str) -> list[Activation]:
    """The entries of ``book`` that ``messages`` (oldest first, as ``Name: text``) activate,
    most important (highest ``insertion_order``) first."""
    ranked = sorted(
        (e for e in book.entries if e.enabled and e.content.strip()),
        key=lambda e: -float(e.insertion_order),
    )
    default_depth = _int(book.scan_depth, DEFAULT_SCAN_DEPTH)
    haystacks = _Haystacks(messages)
    activated: dict[int, Activation] = {}
    recursion_text = ""
    rounds = 1 + (MAX_RECURSION_STEPS if book.recursive_scanning else 0)
    for step in range(rounds):
        new: list[Activation] = []
        for index, entry in enumerate(ranked):
            if index in activated or (step > 0 and _flag(entry, "exclude_recursion")):
                continue
            depth = _int(entry.extensions.get("scan_depth"), default_depth)
            text = haystacks.text(depth) + _JOIN + recursion_text
            if entry.constant or _activates(entry, text, char=char, user=user):
                activation = Activation(
                    entry=entry,
                    content=substitute_macros(entry.content.strip(), char=char, user=user),
                    before_char=_before_char(entry),
                )
                activated[index] = activation
                new.append(activation)
        more = [a.content for a in new if not _flag(a.entry, "prevent_recursion")]
        if not more:
            break
        recursion_text += _JOIN + _JOIN.join(more)
    return [activated[i] for i in sorted(activated)]


def within_budget(
    activations: Sequence[Activation], costs: Sequence[int], budget: int
) -> list[Activation]:
    """The most important activations whose token ``costs`` fit ``budget`` together; like
    SillyTavern, the first entry that does not fit ends the list."""
    kept: list[Activation] = []
    spent = 0
    for activation, cost in zip(activations, costs, strict=True):
        if spent + cost > budget:
            break
        spent += cost
        kept.append(activation)
    return kept


class _Haystacks:
    """The last N messages joined for scanning, built once per depth."""

    def __init__(self, messages: Sequence[str]) -> None:
        self._messages = messages
        self._texts: dict[int, str] = {}

    def text(self, depth: int) -> str:
        if depth not in self._texts:
            recent = self._messages[-depth:] if depth > 0 else []
            self._texts[depth] = _JOIN + _JOIN.join(recent)
        return self._texts[depth]


def _activates(entry: LoreEntry, text: str, *, char: str, user: str) -> bool:
    case_sensitive = bool(
        entry.case_sensitive
        if entry.case_sensitive is not None
        else entry.extensions.get("case_sensitive")
    )
    whole_words = _flag(entry, "match_whole_words")

    def found(key: str) -> bool:
        key = substitute_macros(key, char=char, user=user).strip()
        return bool(key) and _contains(text, key, case_sensitive, whole_words)

    if not any(found(key) for key in entry.keys):
        return False
    secondary = entry.secondary_keys or ()
    if not entry.selective or not secondary:
        return True
    hits = [found(key) for key in secondary]
    logic = selective_logic(entry)
    if logic is Logic.AND_ALL:
        return all(hits)
    if logic is Logic.NOT_ANY:
        return not any(hits)
    if logic is Logic.NOT_ALL:
        return not all(hits)
    return any(hits)


def _contains(text: str, key: str, case_sensitive: bool, whole_words: bool) -> bool:
    if whole_words:
        flags = 0 if case_sensitive else re.IGNORECASE
        return re.search(rf"(?<!\w){re.escape(key)}(?!\w)", text, flags) is not None
    if case_sensitive:
        return key in text
    return key.casefold() in text.casefold()


def _before_char(entry: LoreEntry) -> bool:
    if entry.position is not None:
        return entry.position == "before_char"
    # SillyTavern's own position number: 0 before the character, anything else after it.
    return _int(entry.extensions.get("position"), 0) == 0


def selective_logic(entry: LoreEntry) -> Logic:
    """How an entry's secondary keys must match (``extensions.selectiveLogic``)."""
    try:
        return Logic(_int(entry.extensions.get("selectiveLogic"), Logic.AND_ANY))
    except ValueError:
        return Logic.AND_ANY


def _flag(entry: LoreEntry, name: str) -> bool:
    return entry.extensions.get(name) is True


def _int(raw: JsonValue | float | None, default: int) -> int:
    """A whole number from card data (which may hold a float or a numeric string)."""
    if isinstance(raw, bool) or raw is None:
        return default
    try:
        value = int(float(raw))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return default
    return max(0, min(value, MAX_SCAN_DEPTH)) if value >= 0 else default
