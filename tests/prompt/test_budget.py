"""The token budget: what stays, what goes, and that the prompt start stays put."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import InvalidInput
from bot.prompt.budget import chunk_ratio_for, fit_window
from bot.prompt.render import PromptInputs, PromptRenderer
from bot.prompt.tokens import TokenCounter
from bot.settings import PromptFormat
from bot.values import CharacterFields, Role, Turn
from tests.support.recording_backend import RecordingBackend


def test_everything_fits_keeps_all_examples_and_history() -> None:
    window = fit_window(fixed_cost=10, example_costs=[5, 5], turn_costs=[3] * 4, available=100)
    assert (window.first_turn, window.examples, window.tokens) == (0, 2, 32)


def test_examples_go_before_history_does() -> None:
    window = fit_window(fixed_cost=10, example_costs=[20, 20], turn_costs=[10] * 5, available=85)
    assert window.first_turn == 0 and window.examples == 1


def test_once_history_is_trimmed_examples_are_left_out_and_a_chunk_is_freed() -> None:
    window = fit_window(fixed_cost=10, example_costs=[5], turn_costs=[10] * 20, available=110)
    room = 100
    assert window.examples == 0
    # Room for 24 messages was wanted; at most half the room is freed.
    assert window.tokens - 10 == room // 2
    assert window.first_turn == 20 - 5


def test_a_trim_frees_room_for_two_dozen_messages_within_a_third_to_a_half() -> None:
    assert chunk_ratio_for([10] * 50, 3600) == pytest.approx(1 / 3)  # short messages
    assert chunk_ratio_for([60] * 50, 3600) == pytest.approx(24 * 60 / 3600)
    assert chunk_ratio_for([400] * 50, 3600) == pytest.approx(1 / 2)  # long ones
    assert chunk_ratio_for([], 3600) == pytest.approx(1 / 3)


def test_persona_larger_than_the_context_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="persona"):
        fit_window(fixed_cost=500, example_costs=[], turn_costs=[1], available=400)


def test_a_single_message_too_long_for_the_context_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="too long"):
        fit_window(fixed_cost=10, example_costs=[], turn_costs=[5, 500], available=100)


@settings(max_examples=300, deadline=None)
@given(
    fixed=st.integers(0, 200),
    examples=st.lists(st.integers(1, 80), max_size=6),
    turns=st.lists(st.integers(1, 120), min_size=1, max_size=80),
    available=st.integers(200, 2000),
    sticky=st.integers(0, 90),
)
def test_window_always_fits_and_never_starts_before_the_sticky_turn(
    fixed: int, examples: list[int], turns: list[int], available: int, sticky: int
) -> None:
    try:
        window = fit_window(
            fixed_cost=fixed,
            example_costs=examples,
            turn_costs=turns,
            available=available,
            sticky_first_turn=sticky,
        )
    except InvalidInput:
        assert turns[-1] > available - fixed
        return
    used = fixed + sum(examples[: window.examples]) + sum(turns[window.first_turn :])
    assert used == window.tokens <= available
    assert window.first_turn >= min(sticky, len(turns)) or window.first_turn == len(turns) - 1
    assert window.first_turn < len(turns)  # the newest turn is always there
    if window.first_turn > 0:
        assert window.examples == 0


async def test_growing_chat_re_renders_from_the_same_start_for_many_turns() -> None:
    """Chunked trimming: count how often the prompt's first turn moves in a long chat."""
    counter = TokenCounter(RecordingBackend())
    renderer = PromptRenderer(PromptFormat.PYGMALION, counter, context_length=512)
    character = CharacterFields(name="Aqua", persona="A goddess.")
    history: list[Turn] = []
    sticky = None
    moves = 0
    previous_first = None
    for i in range(300):
        role = Role.HUMAN if i % 2 == 0 else Role.CHARACTER
        speaker = "Alice" if role is Role.HUMAN else "Aqua"
        history.append(Turn(speaker, f"message number {i} with a few words", role, id=i + 1))
        prompt = await renderer.render(
            PromptInputs(
                character=character,
                history=history,
                user_name="Alice",
                reply_tokens=64,
                sticky_first_turn_id=sticky,
            )
        )
        assert prompt.token_count <= 512 - 64
        sticky = prompt.first_turn_id
        if previous_first is not None and prompt.first_turn_id != previous_first:
            moves += 1
        previous_first = prompt.first_turn_id
    # Without chunking the start would move on nearly every one of the ~270 overflowing turns.
    assert moves <= 300 // 10


def test_lore_is_kept_by_importance_and_old_history_makes_room_for_it() -> None:
    window = fit_window(
        fixed_cost=10, example_costs=[], turn_costs=[10] * 10, available=110, lore_costs=[30, 30]
    )
    assert window.lore == 2
    assert window.tokens <= 110 and window.first_turn > 0


def test_lore_never_crowds_out_the_newest_message() -> None:
    window = fit_window(
        fixed_cost=10, example_costs=[], turn_costs=[10, 60], available=100, lore_costs=[20, 20]
    )
    assert window.lore == 1  # the second entry would leave no room for the newest turn
    assert window.first_turn == 0 and window.tokens == 10 + 20 + 10 + 60


def test_always_examples_stay_even_when_history_is_trimmed() -> None:
    window = fit_window(
        fixed_cost=10,
        example_costs=[15, 15],
        turn_costs=[10] * 20,
        available=110,
        examples_always=True,
    )
    assert window.examples == 2 and window.first_turn > 0
    assert window.tokens <= 110


def test_always_examples_too_large_for_the_context_are_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="example dialogue"):
        fit_window(
            fixed_cost=10,
            example_costs=[500],
            turn_costs=[1],
            available=100,
            examples_always=True,
        )


@settings(max_examples=300, deadline=None)
@given(
    fixed=st.integers(0, 200),
    examples=st.lists(st.integers(1, 80), max_size=4),
    turns=st.lists(st.integers(1, 120), min_size=1, max_size=60),
    lore=st.lists(st.integers(1, 150), max_size=5),
    available=st.integers(200, 2000),
    always=st.booleans(),
)
def test_window_with_lore_always_fits_and_keeps_the_newest_turn(
    fixed: int,
    examples: list[int],
    turns: list[int],
    lore: list[int],
    available: int,
    always: bool,
) -> None:
    try:
        window = fit_window(
            fixed_cost=fixed,
            example_costs=examples,
            turn_costs=turns,
            available=available,
            lore_costs=lore,
            examples_always=always,
        )
    except InvalidInput:
        fixed_all = fixed + (sum(examples) if always else 0)
        assert fixed_all > available or turns[-1] > available - fixed_all
        return
    used = (
        fixed
        + sum(lore[: window.lore])
        + sum(examples[: window.examples])
        + sum(turns[window.first_turn :])
    )
    assert used == window.tokens <= available
    assert window.first_turn < len(turns)  # the newest turn is always there
    if always:
        assert window.examples == len(examples)
