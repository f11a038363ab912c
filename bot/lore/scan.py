"""Which lorebook entries the conversation brings into the prompt.

The rules are SillyTavern's world info, so cards written for it behave the same here:

* an enabled entry activates when one of its ``keys`` appears in the last ``scan_depth``
  messages of the chat (the book's, 4 when it names none; an entry may override it with
  ``extensions.scan_depth``). Each message is scanned as ``Name: text``. Keys match as
  plain text, case-insensitively unless the entry is ``case_sensitive`` (or, as SillyTavern
  writes it, ``extensions.case_sensitive``); with ``extensions.match_whole_words`` they must
  stand as whole words. A key written ``/pattern/flags`` is a regular expression, run by
  RE2 (``bot.lore.regex_keys``). ``{{char}}`` and ``{{user}}`` work in keys;
* with ``selective`` and ``secondary_keys``, ``extensions.selectiveLogic`` decides: AND ANY
  (0, the default: one secondary key too), NOT ALL (1: not every secondary key), NOT ANY
  (2: no secondary key), AND ALL (3: every secondary key);
* ``constant`` entries are always active;
* a book with ``recursive_scanning`` scans the content of what it activated for further keys,
  at most ``MAX_RECURSION_STEPS`` rounds (``extensions.exclude_recursion``: the entry is not
  activated that way; ``extensions.prevent_recursion``: its content activates nothing);
* activated entries spend the book's ``token_budget`` (a quarter of the context when it
  names none, never more than half) by ``insertion_order``, highest first, as SillyTavern
  does; in the prompt they stand lowest order first, before or after the character as
  SillyTavern places them (``bot.lore.rules.is_before_char``).

The keys of a book are compiled once per book revision (``bot.lore.matcher``), so a scan
reads the chat once whatever the number of keys, and every bound on its work is there.
``scan_book_async`` runs a large scan in a worker thread. Probability, timed effects and
inclusion groups (other SillyTavern extensions) are not applied: those entries simply
activate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.cards import LoreBook, LoreEntry, substitute_macros
from bot.lore.matcher import MatchBudget, cached_matcher, matcher_for
from bot.lore.rules import (
    DEFAULT_SCAN_DEPTH,
    MAX_SCAN_DEPTH,
    Logic,
    is_before_char,
    selective_logic,
)

__all__ = [
    "DEFAULT_SCAN_DEPTH",
    "MAX_SCAN_DEPTH",
    "Activation",
    "Logic",
    "book_budget",
    "scan_book",
    "scan_book_async",
    "selective_logic",
    "within_budget",
]

log = logging.getLogger(__name__)

MAX_RECURSION_STEPS = 3
MAX_RECURSION_CHARS = 128_000  # of activated content scanned again, per scan
DEFAULT_BUDGET_SHARE = 0.25  # of the context, when a book names no token_budget
MAX_BUDGET_SHARE = 0.5
# A scan that may examine at most this many key occurrences (characters read x keys that
# can end at one character) runs on the event loop, a millisecond or so; others go to a
# worker thread.
INLINE_OCCURRENCES = 20_000
INLINE_REGEX_KEYS = 16


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


async def scan_book_async(
    book: LoreBook, messages: Sequence[str], *, char: str, user: str
) -> list[Activation]:
    """``scan_book``, in a worker thread unless the book's matcher is built and the scan
    is certain to be short (the thread hop would cost more than the scan)."""
    matcher = cached_matcher(book, char=char, user=user)
    # A recursive book also reads what it activates (up to MAX_RECURSION_CHARS): a thread.
    if (
        matcher is not None
        and not book.recursive_scanning
        and matcher.regex_keys <= INLINE_REGEX_KEYS
    ):
        recent = messages[-matcher.max_depth :] if matcher.max_depth else ()
        if sum(map(len, recent)) * max(1, matcher.overlap) <= INLINE_OCCURRENCES:
            return scan_book(book, messages, char=char, user=user)
    return await asyncio.to_thread(scan_book, book, messages, char=char, user=user)


def scan_book(book: LoreBook, messages: Sequence[str], *, char: str, user: str) -> list[Activation]:
    """The entries of ``book`` that ``messages`` (oldest first, as ``Name: text``) activate,
    most important (highest ``insertion_order``) first."""
    matcher = matcher_for(book, char=char, user=user)
    budget = MatchBudget()
    depth_of = matcher.message_hits(messages, budget)
    recursed: set[int] = set()
    activated: dict[int, Activation] = {}
    candidates = {plan for probe in depth_of for plan in matcher.by_probe.get(probe, ())}
    candidates.update(matcher.constants)
    recursion_left = MAX_RECURSION_CHARS
    rounds = 1 + (MAX_RECURSION_STEPS if book.recursive_scanning else 0)
    for step in range(rounds):
        within: dict[int, set[int]] = {}  # depth -> the probes found within it
        new: list[int] = []
        for index in sorted(candidates):
            plan = matcher.plans[index]
            if index in activated or (step > 0 and plan.exclude_recursion):
                continue
            if not plan.constant:
                found = within.get(plan.depth)
                if found is None:
                    found = {p for p, d in depth_of.items() if d <= plan.depth} | recursed
                    within[plan.depth] = found
                if not plan.matches(found):
                    continue
            entry = plan.entry
            activation = Activation(
                entry=entry,
                content=substitute_macros(entry.content.strip(), char=char, user=user),
                before_char=is_before_char(entry),
            )
            activated[index] = activation
            new.append(index)
        if step + 1 == rounds:
            break
        # Only what is new can activate more: the rest was seen in the rounds before.
        fresh: set[int] = set()
        for index in new:
            if matcher.plans[index].prevent_recursion or recursion_left <= 0:
                continue
            text = activated[index].content[:recursion_left]
            recursion_left -= len(text)
            fresh |= matcher.text_hits(text, budget)
        fresh -= recursed
        if not fresh:
            break
        recursed |= fresh
        candidates = {plan for probe in fresh for plan in matcher.by_probe.get(probe, ())}
    if budget.exhausted:
        log.warning("A lorebook scan stopped at its bound of key occurrences; some keys unread")
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
