"""Which example blocks and which history turns fit into the model's context.

Pure arithmetic on token costs, so it can be tested exhaustively. The rules:

* the header (persona, scenario) and the reply opening always stay;
* example dialogue goes before history does: while the whole history fits, example blocks are
  kept from the first one on; once history has to be trimmed, examples are left out;
* history is trimmed from the oldest turn, in chunks: when it overflows, enough old turns go to
  free a chunk of room, and the first turn then stays put for the following turns. The start of
  the prompt stays the same across many turns, so a backend can reuse its evaluated prefix
  instead of re-reading the whole prompt every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import InvalidInput

DEFAULT_CHUNK_RATIO = 0.25


@dataclass(frozen=True, slots=True)
class Window:
    """The part of the history and examples that goes into the prompt."""

    first_turn: int  # index into the turns; len(turns) when none fit
    examples: int  # how many example blocks, from the first
    tokens: int  # estimated tokens of everything included


def fit_window(
    *,
    fixed_cost: int,
    example_costs: Sequence[int],
    turn_costs: Sequence[int],
    available: int,
    sticky_first_turn: int = 0,
    chunk_ratio: float = DEFAULT_CHUNK_RATIO,
) -> Window:
    """Choose the window for ``available`` tokens.

    ``sticky_first_turn`` is the first turn used last time (0 when unknown): the window never
    starts earlier than that, so a backend's cached prefix stays valid.
    """
    room = available - fixed_cost
    if room < 0:
        raise InvalidInput(
            f"This character's persona and scenario take {fixed_cost} tokens, more than the "
            f"{available} tokens the model has for a prompt. Shorten them, or raise "
            "CONTEXT_LENGTH if the model supports more."
        )
    n = len(turn_costs)
    first = min(max(sticky_first_turn, 0), max(n - 1, 0))  # the newest turn always goes in
    history = sum(turn_costs[first:])

    if history > room:
        # Free a chunk beyond the overflow, so the next turns fit without moving the start.
        target = room - int(room * chunk_ratio)
        while first < n and history > target:
            history -= turn_costs[first]
            first += 1
        if first == n and n > 0:  # keep the newest turn if it fits on its own
            first, history = n - 1, turn_costs[-1]
            if history > room:
                raise InvalidInput(
                    f"The last message is too long for the model's context ({turn_costs[-1]} "
                    f"tokens, {room} available after the persona). Please send something shorter."
                )

    examples = 0
    if first == 0:
        spent = history
        for cost in example_costs:
            if spent + cost > room:
                break
            spent += cost
            examples += 1
        history = spent
    return Window(first_turn=first, examples=examples, tokens=fixed_cost + history)
