"""The bookkeeping the load test judges the bot by: which lines a reply answered, latencies,
duplicate replies, percentiles, and the fast backend it runs with."""

from __future__ import annotations

import pytest

from bot.inference.base import Backend, GenerationParams
from testkit.discord_emulator import StoredMessage
from testkit.load.ledger import Ledger
from testkit.load.memory import MIB, Sample, growth_after_warm_up, warm_up_end
from testkit.load.report import percentile
from testkit.support.ack_backend import AckBackend, answer_of

CHANNEL = 10


def _message(ident: int, content: str, *, webhook: bool, author: str = "Aqua") -> StoredMessage:
    data = {
        "id": str(ident),
        "channel_id": str(CHANNEL),
        "content": content,
        "author": {"id": "99", "username": author},
    }
    if webhook:
        data["webhook_id"] = "7"
    return StoredMessage(data=data, guild_id=1)


def _ledger_with_lines(count: int) -> Ledger:
    ledger = Ledger([CHANNEL], webhook_author="Aqua")
    for n in range(1, count + 1):
        text = f"line {n} from Bob: hi"
        ledger.channels[CHANNEL].sent(_message(n, text, webhook=False, author="bob"), text)
    return ledger


def test_a_reply_answers_every_line_up_to_the_one_it_names() -> None:
    ledger = _ledger_with_lines(3)
    ledger.tap(_message(100, "(answering 2) The lantern …", webhook=True))
    record = ledger.channels[CHANNEL]
    assert (record.answered, record.unanswered, len(record.latencies)) == (2, 1, 2)
    assert not ledger.all_answered.is_set()
    ledger.tap(_message(101, "(answering 3) The lantern …", webhook=True))
    assert ledger.unanswered == 0 and ledger.all_answered.is_set()


def test_a_reply_naming_an_answered_line_counts_as_a_duplicate() -> None:
    ledger = _ledger_with_lines(2)
    for ident, line in ((100, 2), (101, 2), (102, 1)):
        ledger.tap(_message(ident, f"(answering {line}) Mm.", webhook=True))
    assert ledger.channels[CHANNEL].repeated_answers == 2


def test_edits_other_authors_and_untagged_replies_are_told_apart() -> None:
    ledger = _ledger_with_lines(1)
    ledger.tap(_message(100, "(answering 1) The", webhook=True))
    ledger.tap(_message(100, "(answering 1) The lantern flickers.", webhook=True))  # an edit
    ledger.tap(_message(101, "(answering 1) Hi", webhook=True, author="Someone else"))
    ledger.tap(_message(102, "Hello without a number", webhook=True))
    record = ledger.channels[CHANNEL]
    assert record.reply_ids == [100, 102]
    assert (record.repeated_answers, record.untagged_replies) == (0, 1)


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile([], 0.5)) == (
        50.0,
        95.0,
        0.0,
    )


async def test_the_fast_backend_streams_an_answer_naming_the_last_line() -> None:
    backend = AckBackend(piece_delay=0.0)
    assert isinstance(backend, Backend)
    prompt = "Bob: line 3 from Bob: hi\nAqua: (answering 3) Yes.\nAnn: line 4 from Ann: yo\nAqua:"
    pieces = [p async for p in backend.stream(prompt, GenerationParams(), ["\nBob:"])]
    assert pieces[0] == "(answering 4) "
    assert answer_of("".join(pieces)) == 4 and "".join(pieces).endswith("comes in.")


@pytest.mark.parametrize("stop", ["tide", "lantern "])
async def test_the_fast_backend_honours_stop_sequences(stop: str) -> None:
    text = "".join(
        [p async for p in AckBackend(piece_delay=0.0).stream("", GenerationParams(), [stop])]
    )
    assert text.startswith("(answering 0) ") and stop not in text


def _samples(cached: list[int], objects: list[int]) -> list[Sample]:
    return [
        Sample(float(t), 100 * MIB, o + 50, 50, MIB, 0.0, c, 10 * t)
        for t, (c, o) in enumerate(zip(cached, objects, strict=True))
    ]


def test_memory_growth_is_measured_once_the_message_cache_is_full() -> None:
    cached = [100, 400, 700, 900, 1000, 1000, 1000, 1000, 1000, 1000]
    objects = [10, 20, 30, 40, 50, 60, 60, 60, 60, 75]
    samples = _samples(cached, objects)
    assert warm_up_end(samples) == 5  # the middle, the cache already full
    at, grown, rss, sent = growth_after_warm_up(samples)
    assert (at, grown, rss, sent) == (5.0, 0, 0, 40)  # medians: 60 -> 60


def test_a_cache_still_filling_measures_from_the_middle() -> None:
    samples = _samples(list(range(100, 1100, 100)), list(range(10)))
    assert warm_up_end(samples) == 5
    with pytest.raises(ValueError, match="too few"):
        warm_up_end(samples[:5])
