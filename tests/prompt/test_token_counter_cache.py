"""The token counter is the one cache of counts: each text is counted once while it is
remembered, and a batch larger than the cache still gets every count."""

from __future__ import annotations

from collections import Counter

from bot.prompt.tokens import TokenCounter


class WordCounter:
    """Counts words, and how often it was asked for each text."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()

    async def count_tokens(self, text: str) -> int:
        self.asked[text] += 1
        return len(text.split())


async def test_a_text_is_counted_once_while_it_is_remembered() -> None:
    backend = WordCounter()
    counter = TokenCounter(backend, max_entries=2)
    assert await counter.count_many(["a b", "c", "a b"]) == [2, 1, 2]
    assert await counter.count("a b") == 2
    assert backend.asked == {"a b": 1, "c": 1}
    await counter.count("d e f")  # "c" is now the least recently used: it goes
    await counter.count("c")
    assert backend.asked["c"] == 2 and backend.asked["a b"] == 1


async def test_a_batch_larger_than_the_cache_gets_every_count() -> None:
    counter = TokenCounter(WordCounter(), max_entries=2)
    await counter.count_many(["x", "y y"])
    texts = ["x", "y y", "one", "two two", "three three three"]
    assert await counter.count_many(texts) == [1, 2, 1, 2, 3]
