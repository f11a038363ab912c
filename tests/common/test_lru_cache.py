"""The one bounded cache: least recently used entries go first, and it never grows past its
limit (checked against a plain list model with Hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.common.memo import LruCache


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache["a"] = 1
    cache["b"] = 2
    assert cache.get("a") == 1  # "a" is now the most recent
    cache["c"] = 3
    assert "b" not in cache
    assert cache.get("a") == 1 and cache["c"] == 3
    assert list(cache) == ["a", "c"]


def test_a_membership_test_is_not_a_use() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache["a"], cache["b"] = 1, 2
    assert "a" in cache
    cache["c"] = 3
    assert "a" not in cache and "b" in cache


def test_get_tells_a_kept_none_from_a_missing_key() -> None:
    cache: LruCache[str, int | None] = LruCache(4)
    cache["none"] = None
    missing = object()
    assert cache.get("none", missing) is None
    assert cache.get("other", missing) is missing
    with pytest.raises(KeyError):
        cache["other"]


def test_pop_and_clear_forget() -> None:
    cache: LruCache[int, str] = LruCache(3)
    cache[1], cache[2] = "one", "two"
    assert cache.pop(1) == "one" and cache.pop(1) is None
    cache.clear()
    assert len(cache) == 0


def test_a_cache_holds_at_least_one_entry() -> None:
    with pytest.raises(ValueError):
        LruCache(0)


_OPS = st.lists(
    st.tuples(st.sampled_from(["set", "get", "pop"]), st.integers(0, 6), st.integers()),
    max_size=60,
)


@given(limit=st.integers(1, 4), ops=_OPS)
def test_the_cache_behaves_as_a_recency_list_cut_to_its_limit(
    limit: int, ops: list[tuple[str, int, int]]
) -> None:
    cache: LruCache[int, int] = LruCache(limit)
    model: list[tuple[int, int]] = []  # least recently used first
    for op, key, value in ops:
        kept = dict(model)
        if op == "set":
            model = [(k, v) for k, v in model if k != key] + [(key, value)]
            model = model[-limit:]
            cache[key] = value
        elif op == "get":
            assert cache.get(key) == kept.get(key)
            if key in kept:
                model = [(k, v) for k, v in model if k != key] + [(key, kept[key])]
        else:
            assert cache.pop(key) == kept.get(key)
            model = [(k, v) for k, v in model if k != key]
        assert list(cache) == [k for k, _ in model]
        assert len(cache) <= limit
