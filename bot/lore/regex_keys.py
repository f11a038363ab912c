"""Regular-expression keys, as SillyTavern writes them: ``/pattern/flags``.

SillyTavern treats any key of that form as a JavaScript regex (``parseRegexFromString`` in
its public/scripts/world-info.js) and tests it against the raw chat text, ignoring the
entry's case and whole-word settings. Keys come from strangers' cards, so they run on RE2
(the ``google-re2`` bindings): linear time whatever the pattern, so ``/(a+)+$/`` against
``aaaa…b`` costs nothing. What RE2 cannot compile (lookarounds, backreferences) is ignored
with a log line; ``/lore add`` refuses it with a sentence instead.

A V3 card's ``use_regex`` does not change this: SillyTavern writes ``use_regex: true`` on
every entry it exports, plain keys included (``convertWorldInfoToCharacterBook`` in its
src/endpoints/characters.js: "ST keys are always regex"), so a plain key stays plain text.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import re2

log = logging.getLogger(__name__)

# SillyTavern's own test: /pattern/ and optional flags, the pattern lazily matched.
_DELIMITED = re.compile(r"/([\s\S]+?)/([gimsuy]*)")
_UNESCAPED_SLASH = re.compile(r"(^|[^\\])/")
MAX_PATTERN_CHARS = 1_000
# RE2's own memory bound per compiled pattern (its default is 8 MiB): a hostile pattern
# fails to compile instead of growing.
_OPTIONS = re2.Options()
_OPTIONS.max_mem = 4 << 20
_OPTIONS.log_errors = False


@dataclass(frozen=True, slots=True)
class RegexKey:
    """A key in ``/pattern/flags`` form, as an RE2 pattern with its flags inlined."""

    source: str  # the key as written
    pattern: str  # for RE2: ``(?is:...)`` around the body


def parse_regex_key(key: str) -> RegexKey | None:
    """The regex a key stands for, or None when it is plain text (SillyTavern's rule)."""
    found = _DELIMITED.fullmatch(key)
    if found is None:
        return None
    body, flags = found.group(1), found.group(2)
    if _UNESCAPED_SLASH.search(body) or len(set(flags)) != len(flags):
        return None  # not a regex for SillyTavern either: plain text
    # JavaScript's i, m and s mean what RE2's do; g and u change nothing for a yes/no test
    # (RE2 always reads Unicode); y (sticky) anchors the match at the start of the text.
    inline = "".join(flag for flag in "ims" if flag in flags)
    pattern = f"(?{inline}:{body})" if inline else f"(?:{body})"
    if "y" in flags:
        pattern = rf"\A{pattern}"
    return RegexKey(source=key, pattern=pattern)


def regex_key_error(key: str) -> str | None:
    """Why a ``/pattern/flags`` key cannot be used, or None (plain keys are always fine)."""
    parsed = parse_regex_key(key)
    if parsed is None:
        return None
    if len(parsed.pattern) > MAX_PATTERN_CHARS:
        return f"it is longer than {MAX_PATTERN_CHARS:,} characters"
    try:
        re2.compile(parsed.pattern, options=_OPTIONS)
    except re2.error as exc:
        return _reason(exc)
    return None


def compile_regex_key(parsed: RegexKey) -> re2._Regexp | None:
    """The compiled pattern, or None (logged) when RE2 refuses it."""
    if len(parsed.pattern) > MAX_PATTERN_CHARS:
        log.info("Ignoring a lorebook regex key of %d characters", len(parsed.pattern))
        return None
    try:
        return re2.compile(parsed.pattern, options=_OPTIONS)
    except re2.error as exc:
        log.info("Ignoring a lorebook regex key RE2 cannot compile: %s", _reason(exc))
        return None


def _reason(exc: re2.error) -> str:
    """RE2's own words (the bindings hand them over as bytes)."""
    raw = exc.args[0] if exc.args else b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text or "RE2 cannot compile it"
