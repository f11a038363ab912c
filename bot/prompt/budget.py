"""Which example blocks and which history turns fit into the model's context.

Pure arithmetic on token costs, so it can be tested exhaustively. The rules:

* the header (persona, scenario), the reply opening and whatever else the caller counts as
  fixed (post-history instructions, the author's note, examples of an ``always`` character)
  always stay;
* lore entries (already held to their books' token budgets) come next, most important first:
  old history makes room for them, but they never crowd out the newest message. When the
  persona, lore and the newest message do not fit together, lore goes first, least
  important entry first, before any history is cut;
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

DEFAULT_CHUNK_RATIO = 1 / 3  # at least a third of the room is freed per trim...
MAX_CHUNK_RATIO = 1 / 2  # ...and at most half, so most of the room still holds history
MESSAGES_BETWEEN_TRIMS = 24  # ...aiming at a dozen replies between two moves of the start


def chunk_ratio_for(turn_costs: Sequence[int], room: int) -> float:
    """How much room a trim frees: enough for MESSAGES_BETWEEN_TRIMS typical messages, so the
    prompt's start moves (and a backend re-reads the prompt) on fewer than one reply in ten."""
    if not turn_costs or room <= 0:
        return DEFAULT_CHUNK_RATIO
    typical = sum(turn_costs) / len(turn_costs)
    wanted = MESSAGES_BETWEEN_TRIMS * typical / room
    return min(MAX_CHUNK_RATIO, max(DEFAULT_CHUNK_RATIO, wanted))


@dataclass(frozen=True, slots=True)
class Window:
    """The part of the history and examples that goes into the prompt."""

    first_turn: int  # index into the turns; len(turns) when none fit
    examples: int  # how many example blocks, from the first
    tokens: int  # estimated tokens of everything included
    lore: int = 0  # how many lore entries, from the most important


def fit_window(
    *,
    fixed_cost: int,
    example_costs: Sequence[int],
    turn_costs: Sequence[int],
    available: int,
    sticky_first_turn: int = 0,
    chunk_ratio: float | None = None,
    lore_costs: Sequence[int] = (),
    examples_always: bool = False,
) -> Window:
    """Choose the window for ``available`` tokens.

    ``sticky_first_turn`` is the first turn used last time (0 when unknown): the window never
    starts earlier than that, so a backend's cached prefix stays valid. ``lore_costs`` are in
    order of importance. With ``examples_always`` every example block stays, like the persona.
    """
    if examples_always:
        fixed_cost += sum(example_costs)
    room = available - fixed_cost
    if room < 0:
        parts = (
            "persona, scenario and example dialogue" if examples_always else "persona and scenario"
        )
        raise InvalidInput(
            f"This character's {parts} take {fixed_cost} tokens, more than the "
            f"{available} tokens the model has for a prompt. Shorten them, or raise "
            "CONTEXT_LENGTH if the model supports more."
        )
    n = len(turn_costs)
    lore, lore_spent = 0, 0
    lore_room = room - (turn_costs[-1] if n else 0)
    for cost in lore_costs:
        if lore_spent + cost > lore_room:
            break
        lore_spent += cost
        lore += 1
    fixed_cost += lore_spent
    room -= lore_spent
    first = min(max(sticky_first_turn, 0), max(n - 1, 0))  # the newest turn always goes in
    history = sum(turn_costs[first:])

    if history > room:
        # Free a chunk beyond the overflow, so the next turns fit without moving the start.
        if chunk_ratio is None:
            chunk_ratio = chunk_ratio_for(turn_costs, room)
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

    examples = len(example_costs) if examples_always else 0
    if first == 0 and not examples_always:
        spent = history
        for cost in example_costs:
            if spent + cost > room:
                break
            spent += cost
            examples += 1
        history = spent
    return Window(first_turn=first, examples=examples, tokens=fixed_cost + history, lore=lore)
