"""How much of each prompt a backend really evaluated, against what was new since the channel's
previous turn.

A turn's *new* tokens are what the conversation grew by since the same channel's previous
turn: its prompt's tokens minus the previous prompt's (the previous reply, the messages since,
the reply opening). A turn "evaluated only what is new" when the backend evaluated at most
that many tokens plus ``TOLERANCE`` (a token merged across the boundary, or the one token
llama.cpp re-decodes to refresh its logits). A channel's first turn has nothing to reuse and is
left out of the share. ``stable_prefix_tokens`` says how much of the prompt text stayed the
same as the previous one, which tells *why* a turn re-evaluated more (the window moved, or
text near the start changed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from bench.core_setup import TurnTiming
from bench.instrumented import GenerationRecord, MeasuredBackend

TOLERANCE = 2


@dataclass(frozen=True, slots=True)
class TurnCost:
    session_id: int
    prompt_tokens: int
    evaluated_tokens: int
    new_tokens: int | None  # None on a channel's first turn
    stable_prefix_tokens: int | None  # tokens of the text shared with the previous prompt

    @property
    def only_new(self) -> bool:
        return self.new_tokens is not None and self.evaluated_tokens <= (
            self.new_tokens + TOLERANCE
        )


def records_for_turn(
    turn: TurnTiming, records: Sequence[GenerationRecord]
) -> list[GenerationRecord]:
    """The generations that answered ``turn`` (more than one when an empty reply was retried)."""
    return [
        r
        for r in records
        if turn.message in r.prompt and turn.started <= r.requested <= turn.finished
    ]


async def turn_costs(backend: MeasuredBackend, turns: Sequence[TurnTiming]) -> list[TurnCost]:
    """Pair each turn with its generation and with its channel's previous prompt."""
    previous: dict[int, tuple[str, int]] = {}
    costs: list[TurnCost] = []
    for turn in sorted(turns, key=lambda t: t.started):
        matched = records_for_turn(turn, backend.records)
        if not matched or matched[0].evaluated_tokens is None:
            continue
        record = matched[0]
        prompt_tokens = record.prompt_tokens or 0
        earlier = previous.get(turn.session_id)
        new_tokens = stable = None
        if earlier is not None:
            new_tokens = max(prompt_tokens - earlier[1], 0)
            common = _common_prefix_length(earlier[0], record.prompt)
            stable = await backend.count_tokens(record.prompt[:common])
        previous[turn.session_id] = (record.prompt, prompt_tokens)
        costs.append(
            TurnCost(
                turn.session_id, prompt_tokens, record.evaluated_tokens or 0, new_tokens, stable
            )
        )
    return costs


def summarize_costs(costs: Sequence[TurnCost]) -> dict[str, object]:
    later = [c for c in costs if c.new_tokens is not None]
    by_channel: dict[int, int] = defaultdict(int)
    for cost in costs:
        by_channel[cost.session_id] += 1
    return {
        "turns": len(costs),
        "channels": len(by_channel),
        "turns_measured_for_share": len(later),
        "only_new_share": (sum(c.only_new for c in later) / len(later)) if later else None,
        "mean_prompt_tokens": _mean([c.prompt_tokens for c in later]),
        "mean_new_tokens": _mean([c.new_tokens or 0 for c in later]),
        "mean_evaluated_tokens": _mean([c.evaluated_tokens for c in later]),
        "mean_stable_prefix_tokens": _mean([c.stable_prefix_tokens or 0 for c in later]),
        "first_turn_mean_evaluated_tokens": _mean(
            [c.evaluated_tokens for c in costs if c.new_tokens is None]
        ),
        "per_turn": [
            {
                "session": c.session_id,
                "prompt": c.prompt_tokens,
                "evaluated": c.evaluated_tokens,
                "new": c.new_tokens,
                "stable_prefix": c.stable_prefix_tokens,
            }
            for c in costs
        ],
    }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _common_prefix_length(first: str, second: str) -> int:
    """How many leading characters two prompts share."""
    length = min(len(first), len(second))
    for index in range(length):
        if first[index] != second[index]:
            return index
    return length
