"""Every key of a book found in one pass over the chat: the matcher behind ``scan_book``.

A book's keys become two Aho-Corasick automata (pyahocorasick): one over the case-folded
keys of case-insensitive entries, one over the keys of case-sensitive ones, so a message is
read once per automaton whatever the number of keys, instead of once per key. Regex keys
(``/pattern/flags``) become one RE2 set, read once per message too. A matcher is built once
per book revision and cached (``matcher_for``).

Everything a book can make the scan do is bounded, because books come from strangers' cards:
at most ``MAX_SCANNED_KEYS`` distinct keys of ``MAX_SCANNED_KEY_CHARS`` characters together
(so that building the automaton, C code that holds the GIL, stays around 50 ms) and
``MAX_REGEX_KEYS`` regex keys per book, the most important entries' keys first; at most
``MAX_MATCHES`` key occurrences examined per scan (keys such as ``a``, ``aa``, ``aaa``...
overlap at every letter). Keys past a bound never match, and the log says so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import methodcaller

import ahocorasick
import re2

from bot.cards import LoreBook, LoreEntry, substitute_macros
from bot.common.memo import LruCache
from bot.lore.regex_keys import RegexKey, compile_regex_key, parse_regex_key
from bot.lore.rules import (
    DEFAULT_SCAN_DEPTH,
    Logic,
    flag,
    is_case_sensitive,
    selective_logic,
    whole_number,
)

log = logging.getLogger(__name__)

MAX_SCANNED_KEYS = 20_000
MAX_SCANNED_KEY_CHARS = 200_000
MAX_REGEX_KEYS = 256
MAX_MATCHES = 200_000
MAX_SCANNED_CHARS = 256_000  # of chat messages per scan, the newest first
MATCHERS_REMEMBERED = 32  # a matcher of a book at the bounds takes some 8 MB
NEVER = -1  # the probe of a key that cannot match (empty, refused, past a bound)
_IS_DELIMITED = methodcaller("startswith", "/")
_REGEX_SET_MEMORY = 64 << 20


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """One entry as the scan checks it: its keys as probe ids."""

    entry: LoreEntry
    primary: frozenset[int]
    secondary: frozenset[int]  # empty unless the entry is selective with secondary keys
    logic: Logic
    depth: int
    constant: bool
    exclude_recursion: bool
    prevent_recursion: bool

    def matches(self, found: set[int]) -> bool:
        """Whether the probes ``found`` activate the entry (SillyTavern's selective logic)."""
        if self.primary.isdisjoint(found):
            return False
        if not self.secondary:
            return True
        if self.logic is Logic.AND_ALL:
            return self.secondary <= found
        if self.logic is Logic.NOT_ANY:
            return self.secondary.isdisjoint(found)
        if self.logic is Logic.NOT_ALL:
            return not self.secondary <= found
        return not self.secondary.isdisjoint(found)


@dataclass(slots=True)
class MatchBudget:
    """Key occurrences one scan may still examine."""

    left: int = MAX_MATCHES
    exhausted: bool = False


class BookMatcher:
    """The compiled keys of one book revision (for one character and user name when its
    keys hold ``{{char}}`` or ``{{user}}``)."""

    def __init__(self, book: LoreBook, *, char: str, user: str) -> None:
        builder = _Builder(char=char, user=user)
        ranked = sorted(
            (e for e in book.entries if e.enabled and e.content.strip()),
            key=lambda e: -float(e.insertion_order),
        )
        default_depth = whole_number(book.scan_depth, DEFAULT_SCAN_DEPTH)
        self.plans = tuple(builder.plan(entry, default_depth) for entry in ranked)
        self.uses_names = builder.uses_names
        self.max_depth = max((p.depth for p in self.plans), default=0)
        self.constants = tuple(i for i, p in enumerate(self.plans) if p.constant)
        # probe -> the plans that name it (as a primary or a secondary key)
        by_probe: dict[int, list[int]] = {}
        for index, plan in enumerate(self.plans):
            for probe in plan.primary | plan.secondary:
                by_probe.setdefault(probe, []).append(index)
        by_probe.pop(NEVER, None)
        self.by_probe = {probe: tuple(plans) for probe, plans in by_probe.items()}
        self._folded = _automaton(builder.folded)
        self._exact = _automaton(builder.exact)
        self._regex_ids, self._regex_set, self._regexes = _regexes(builder.regexes)
        self.regex_keys = len(builder.regexes)
        self.keys = len(builder.probes)
        # Keys ending at one letter have distinct lengths in each automaton: at most this
        # many occurrences per character read.
        self.overlap = len({len(k) for k in builder.folded}) + len({len(k) for k in builder.exact})
        if builder.dropped:
            log.warning(
                "A lorebook has %d keys past the scan's bounds (%d keys, %d characters, "
                "%d regex keys); those keys never match",
                builder.dropped,
                MAX_SCANNED_KEYS,
                MAX_SCANNED_KEY_CHARS,
                MAX_REGEX_KEYS,
            )

    def message_hits(self, messages: Sequence[str], budget: MatchBudget) -> dict[int, int]:
        """probe -> how recent the newest message holding it is (1: the last message)."""
        depth_of: dict[int, int] = {}
        recent = messages[-self.max_depth :] if self.max_depth > 0 else []
        left = MAX_SCANNED_CHARS
        for depth, message in enumerate(reversed(recent), start=1):
            if left <= 0:
                break
            text = message if len(message) <= left else message[-left:]
            left -= len(text)
            for probe in self.text_hits(text, budget):
                depth_of.setdefault(probe, depth)
        return depth_of

    def text_hits(self, text: str, budget: MatchBudget) -> set[int]:
        """The probes found in ``text``."""
        found: set[int] = set()
        if self._folded is not None:
            _collect(self._folded, text.casefold(), found, budget)
        if self._exact is not None:
            _collect(self._exact, text, found, budget)
        if self._regex_set is not None:
            found.update(self._regex_ids[i] for i in self._regex_set.Match(text) or ())
        for probe, regex in self._regexes:
            if regex.search(text) is not None:
                found.add(probe)
        return found


class _Builder:
    """Turns keys into probe ids, one per distinct (matching mode, text)."""

    def __init__(self, *, char: str, user: str) -> None:
        self.char, self.user = char, user
        self.probes: dict[tuple[str, str, bool], int] = {}
        # (case sensitive, whole words) -> key text -> probe, for the keys past the bound
        self.known: dict[tuple[bool, bool], dict[str, int]] = {
            (case, whole): {} for case in (False, True) for whole in (False, True)
        }
        self.folded: dict[str, list[tuple[int, bool]]] = {}
        self.exact: dict[str, list[tuple[int, bool]]] = {}
        self.regexes: list[tuple[int, RegexKey]] = []
        self.key_chars = 0
        self.dropped = 0
        self.full = False
        self.uses_names = False

    def plan(self, entry: LoreEntry, default_depth: int) -> EntryPlan:
        case_sensitive = is_case_sensitive(entry)
        whole = flag(entry, "match_whole_words")
        primary = self.probes_of(entry.keys, case_sensitive, whole)
        secondary: frozenset[int] = frozenset()
        if entry.selective and entry.secondary_keys:
            secondary = self.probes_of(entry.secondary_keys, case_sensitive, whole)
        return EntryPlan(
            entry=entry,
            primary=primary,
            secondary=secondary,
            logic=selective_logic(entry),
            depth=whole_number(entry.extensions.get("scan_depth"), default_depth),
            constant=bool(entry.constant),
            exclude_recursion=flag(entry, "exclude_recursion"),
            prevent_recursion=flag(entry, "prevent_recursion"),
        )

    def probes_of(self, keys: Sequence[str], case_sensitive: bool, whole: bool) -> frozenset[int]:
        if not self.full:
            return frozenset(self.probe(k, case_sensitive, whole) for k in keys)
        # Past the bound only a key already compiled can match (regex keys have their own
        # bound). A book at the limits has a million keys: they are looked up in bulk by C
        # code (map, set operations), which takes a few milliseconds where a Python loop
        # took a second, and makes no container per key to set off the garbage collector.
        stripped = set(map(str.strip, keys))
        texts = stripped if case_sensitive else set(map(str.casefold, stripped))
        known = self.known[case_sensitive, whole]
        unknown = texts.difference(known)  # C walks ``texts``, looking each up in the dict
        probes = {known[text] for text in texts - unknown}
        slashed = {k for k in filter(_IS_DELIMITED, stripped) if k.casefold() in unknown}
        if case_sensitive:
            slashed = set(filter(_IS_DELIMITED, unknown))
        probes.update(self.probe(key, case_sensitive, whole) for key in slashed)
        missing = len(unknown) - len(slashed if case_sensitive else set(map(str.casefold, slashed)))
        if missing > 0:
            self.dropped += missing
            probes.add(NEVER)
        return frozenset(probes)

    def probe(self, raw: str, case_sensitive: bool, whole: bool) -> int:
        key = substitute_macros(raw, char=self.char, user=self.user)
        if key != raw:
            self.uses_names = True
        key = key.strip()  # as SillyTavern does, after the names are filled in
        if not key:
            return NEVER
        regex = parse_regex_key(key)
        if regex is not None:
            return self._regex_probe(regex)
        text = key if case_sensitive else key.casefold()
        ident = ("exact" if case_sensitive else "folded", text, whole)
        probe = self.probes.get(ident)
        if probe is not None:
            return probe
        if len(self.probes) >= MAX_SCANNED_KEYS or (
            self.key_chars + len(text) > MAX_SCANNED_KEY_CHARS
        ):
            self.full = len(self.probes) >= MAX_SCANNED_KEYS
            self.dropped += 1
            return NEVER
        probe = self.probes[ident] = len(self.probes)
        self.known[case_sensitive, whole][text] = probe
        self.key_chars += len(text)
        (self.exact if case_sensitive else self.folded).setdefault(text, []).append((probe, whole))
        return probe

    def _regex_probe(self, regex: RegexKey) -> int:
        ident = ("regex", regex.pattern, False)
        probe = self.probes.get(ident)
        if probe is not None:
            return probe
        if len(self.regexes) >= MAX_REGEX_KEYS:
            self.dropped += 1
            return NEVER
        probe = self.probes[ident] = len(self.probes)
        self.regexes.append((probe, regex))
        return probe


def _automaton(keys: dict[str, list[tuple[int, bool]]]) -> ahocorasick.Automaton | None:
    if not keys:
        return None
    automaton = ahocorasick.Automaton()
    for text, probes in keys.items():
        automaton.add_word(text, (len(text), tuple(probes)))
    automaton.make_automaton()
    return automaton


def _regexes(
    keys: list[tuple[int, RegexKey]],
) -> tuple[list[int], re2.Set | None, list[tuple[int, re2._Regexp]]]:
    """The regex keys RE2 accepts, as one set (one pass per text) when RE2 can build it,
    else one by one."""
    compiled = [(probe, key, compile_regex_key(key)) for probe, key in keys]
    usable = [(probe, key, regex) for probe, key, regex in compiled if regex is not None]
    if not usable:
        return [], None, []
    options = re2.Options()
    options.max_mem = _REGEX_SET_MEMORY
    options.log_errors = False
    regex_set = re2.Set.SearchSet(options)
    try:
        for _, key, _ in usable:
            regex_set.Add(key.pattern)
        regex_set.Compile()
    except re2.error:
        log.info(
            "%d lorebook regex keys do not fit one RE2 set; matching them one by one",
            len(usable),
        )
        return [], None, [(probe, regex) for probe, _, regex in usable]
    return [probe for probe, _, _ in usable], regex_set, []


def _collect(
    automaton: ahocorasick.Automaton, text: str, found: set[int], budget: MatchBudget
) -> None:
    for end, (length, probes) in automaton.iter(text):
        budget.left -= 1
        if budget.left < 0:
            budget.exhausted = True
            return
        for probe, whole in probes:
            if probe in found:
                continue
            if whole and not _stands_alone(text, end - length + 1, end):
                continue
            found.add(probe)


def _stands_alone(text: str, start: int, end: int) -> bool:
    """No word character (``\\w``) right before ``start`` or right after ``end``."""
    before = text[start - 1] if start > 0 else " "
    after = text[end + 1] if end + 1 < len(text) else " "
    return not (_is_word(before) or _is_word(after))


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


@dataclass
class _Cache:
    """Matchers by book object: the store hands out one ``LoreBook`` per book revision
    (``bot.store.lore``), so the object is the revision. Each entry keeps its book alive,
    so an id is never reused while it is remembered."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    build_lock: threading.Lock = field(default_factory=threading.Lock)
    matchers: LruCache[tuple[int, str | None, str | None], tuple[LoreBook, BookMatcher]] = field(
        default_factory=lambda: LruCache(MATCHERS_REMEMBERED)
    )

    def get(self, book: LoreBook, char: str, user: str) -> BookMatcher | None:
        with self.lock:  # scans run in worker threads
            for key in ((id(book), None, None), (id(book), char, user)):
                found = self.matchers.get(key)
                if found is not None and found[0] is book:
                    return found[1]
        return None

    def put(self, book: LoreBook, char: str, user: str, matcher: BookMatcher) -> None:
        key = (id(book), char, user) if matcher.uses_names else (id(book), None, None)
        with self.lock:
            self.matchers[key] = (book, matcher)


_CACHE = _Cache()


def cached_matcher(book: LoreBook, *, char: str, user: str) -> BookMatcher | None:
    """The book's matcher when it is already built (no work otherwise)."""
    return _CACHE.get(book, char, user)


def matcher_for(book: LoreBook, *, char: str, user: str) -> BookMatcher:
    """The book's matcher, built on first use; builds run one at a time."""
    matcher = _CACHE.get(book, char, user)
    if matcher is not None:
        return matcher
    with _CACHE.build_lock:
        matcher = _CACHE.get(book, char, user)
        if matcher is None:
            matcher = BookMatcher(book, char=char, user=user)
            _CACHE.put(book, char, user, matcher)
    return matcher
