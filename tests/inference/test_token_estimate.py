"""The conservative token estimate and the count cache."""

from __future__ import annotations

from bot.inference.token_estimate import TokenCountCache, estimate_tokens


def test_empty_and_tiny_texts() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a") == 1


def test_english_prose_is_overcounted_moderately() -> None:
    text = "Aria smiles and leans against the doorframe, watching you with curious eyes."
    words = len(text.split())
    # Real tokenizers spend about 1.3 tokens per English word here; the estimate is above
    # that but not absurdly so.
    assert 1.3 * words <= estimate_tokens(text) <= 3 * words


def test_digits_punctuation_and_newlines_count_one_each() -> None:
    assert estimate_tokens("1234567890") == 10
    assert estimate_tokens('*"!?\n') == 5


def test_non_ascii_counts_by_utf8_length() -> None:
    assert estimate_tokens("é") == 1  # 2 bytes
    assert estimate_tokens("日本語") == 6  # 3 bytes each
    assert estimate_tokens("🙂") == 4  # 4 bytes


def test_estimate_grows_with_text() -> None:
    assert estimate_tokens("hello there" * 10) > estimate_tokens("hello there")


def test_cache_evicts_least_recently_used() -> None:
    cache = TokenCountCache(max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None
    assert cache.get("a") == 1 and cache.get("c") == 3
