"""SequenceTable: which conversation owns which KV sequence, what it keeps, who is evicted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.inference.llama_batch.sequences import MIN_SHARED_PREFIX, SequenceTable


def turn(table: SequenceTable, key: str | None, prompt: list[int], reserve: int) -> int:
    claim = table.claim(key, prompt, reserve)
    assert claim is not None
    table.decoded(claim.seq_id, prompt[claim.reused :])
    table.release(claim.seq_id)
    return claim.seq_id


def test_a_conversation_keeps_its_sequence_and_reuses_the_common_prefix() -> None:
    table = SequenceTable(4, 1000)
    seq = turn(table, "a", [1, 2, 3, 4], 10)
    claim = table.claim("a", [1, 2, 3, 9, 9], 10)
    assert claim is not None and claim.seq_id == seq
    assert claim.keep == 3 and claim.dropped == () and claim.copy_from is None


def test_an_unchanged_prompt_still_evaluates_its_last_token() -> None:
    table = SequenceTable(2, 1000)
    turn(table, "a", [1, 2, 3], 10)
    claim = table.claim("a", [1, 2, 3], 10)
    assert claim is not None and claim.keep == 2


def test_the_least_recently_used_idle_conversation_is_evicted_for_cells() -> None:
    table = SequenceTable(8, 100)
    turn(table, "old", [1] * 40, 40)
    turn(table, "recent", [2] * 40, 40)
    claim = table.claim("new", [3] * 10, 30)
    assert claim is not None and len(claim.dropped) == 1
    assert not table.resident("old") and table.resident("recent") and table.resident("new")
    assert table.evictions == 1


def test_a_busy_conversation_is_never_evicted_and_a_newcomer_waits() -> None:
    table = SequenceTable(4, 100)
    running = table.claim("running", [1] * 10, 80)
    assert running is not None
    assert table.claim("newcomer", [2] * 10, 30) is None  # 80 of 100 cells are reserved
    assert table.claim("running", [1] * 10, 10) is None  # its own sequence is busy
    table.release(running.seq_id)
    assert table.claim("newcomer", [2] * 10, 30) is not None


def test_when_every_sequence_is_taken_the_oldest_idle_one_is_taken_over() -> None:
    table = SequenceTable(2, 1000)
    first = turn(table, "a", [1, 2], 5)
    turn(table, "b", [3, 4], 5)
    claim = table.claim("c", [5, 6], 5)
    assert claim is not None and claim.seq_id == first and claim.dropped == (first,)
    assert claim.keep == 0 and not table.resident("a")


def test_a_new_conversation_copies_a_shared_persona_prefix() -> None:
    table = SequenceTable(4, 1000)
    persona = list(range(100, 100 + MIN_SHARED_PREFIX + 4))
    source = turn(table, "channel-1", [*persona, 1, 2], 50)
    claim = table.claim("channel-2", [*persona, 7, 8], 50)
    assert claim is not None and claim.copy_from == source
    assert claim.copied == len(persona) and claim.reused == len(persona)
    assert table.holds(claim.seq_id) == persona


def test_a_failed_turn_forgets_what_its_sequence_held() -> None:
    table = SequenceTable(2, 100)
    claim = table.claim("a", [1, 2, 3], 10)
    assert claim is not None
    table.release(claim.seq_id, keep=False)
    assert not table.resident("a") and table.holds(claim.seq_id) == []


@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.lists(st.integers(0, 3), min_size=1, max_size=30)),
        max_size=40,
    )
)
def test_held_cells_never_exceed_the_cache_and_each_key_has_one_sequence(
    turns: list[tuple[str, list[int]]],
) -> None:
    table = SequenceTable(3, 64)
    for key, prompt in turns:
        claim = table.claim(key, prompt, len(prompt) + 4)
        if claim is None:
            continue
        assert claim.reused < len(prompt)  # at least one token gives the logits
        table.decoded(claim.seq_id, [*prompt[claim.reused :], 9, 9])
        table.release(claim.seq_id)
        assert table.free_cells() >= 0
        assert table.holds(claim.seq_id)[: len(prompt)] == prompt
