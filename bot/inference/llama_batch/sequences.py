"""Which conversation owns which KV sequence, and what each sequence already holds.

A conversation keeps its sequence between turns, so a new turn evaluates only the tokens after
the longest common prefix of its prompt and what the sequence holds (llama-server's prompt
cache, per slot). The cells are shared by all sequences (a unified KV cache): a turn reserves
room for its prompt and reply, and when that room is not free the least recently used idle
sequences are dropped, to be evaluated again on their conversation's next turn. A new
conversation whose prompt starts like a resident one (a character's persona in several
channels) copies those cells with ``seq_cp`` instead of evaluating them again.

Pure bookkeeping: the decode loop applies the drops and copies a claim asks for.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

# A shared prefix shorter than this is not worth a copy (a BOS and a few common words).
MIN_SHARED_PREFIX = 16


@dataclass(slots=True)
class _Slot:
    seq_id: int
    key: str | None = None
    tokens: list[int] = field(default_factory=list)  # what the KV holds, positions 0..n-1
    reserved: int = 0  # cells held for a running turn (prompt + reply)
    busy: bool = False
    resident: bool = False  # holds tokens of ``key``'s conversation
    last_used: int = 0


@dataclass(frozen=True, slots=True)
class Claim:
    """A sequence for one turn. The loop drops the ``dropped`` sequences' cells, then this
    sequence's from ``keep`` on, then copies ``copy_from``'s first ``copied`` cells into it."""

    seq_id: int
    keep: int
    dropped: tuple[int, ...]
    copy_from: int | None = None
    copied: int = 0

    @property
    def reused(self) -> int:
        """Prompt tokens that need no evaluation."""
        return max(self.keep, self.copied)


def common_prefix(first: Sequence[int], second: Sequence[int]) -> int:
    n = min(len(first), len(second))
    for index in range(n):
        if first[index] != second[index]:
            return index
    return n


class SequenceTable:
    """``n_seq`` sequences sharing ``n_cells`` KV cells."""

    def __init__(self, n_seq: int, n_cells: int) -> None:
        self._slots = [_Slot(seq_id) for seq_id in range(n_seq)]
        self._by_key: dict[str, _Slot] = {}
        self._n_cells = n_cells
        self._clock = itertools.count(1)
        self.evictions = 0

    def resident(self, key: str) -> bool:
        slot = self._by_key.get(key)
        return slot is not None and slot.resident

    def holds(self, seq_id: int) -> list[int]:
        return self._slots[seq_id].tokens

    def free_cells(self, ignoring: _Slot | None = None) -> int:
        used = sum(
            s.reserved if s.busy else len(s.tokens) for s in self._slots if s is not ignoring
        )
        return self._n_cells - used

    def claim(self, key: str | None, prompt: Sequence[int], reserve: int) -> Claim | None:
        """A sequence for ``key``'s next turn, or None while none can be had (every sequence
        busy, or the running turns hold the cells it needs). ``prompt`` is not empty."""
        slot = self._slot_for(key, prompt)
        if slot is None:
            return None
        taken_over = slot.resident and slot.key != key
        victims = self._victims(slot, reserve)
        if victims is None:
            return None
        dropped = [slot.seq_id] if taken_over else []
        if taken_over:
            self._forget(slot)
            self.evictions += 1
        for victim in victims:
            dropped.append(victim.seq_id)
            self._forget(victim)
            self.evictions += 1
        keep = min(common_prefix(slot.tokens, prompt), len(prompt) - 1)
        copy_from, copied = None, 0
        source = self._best_prefix_source(prompt, slot) if keep < MIN_SHARED_PREFIX else None
        if source is not None:
            shared = min(common_prefix(source.tokens, prompt), len(prompt) - 1)
            if shared > keep:
                keep, copy_from, copied = 0, source.seq_id, shared
        if key is not None:
            self._by_key[key] = slot
        slot.key, slot.busy, slot.reserved, slot.resident = key, True, reserve, True
        slot.last_used = next(self._clock)
        slot.tokens = list(prompt[:copied]) if copy_from is not None else slot.tokens[:keep]
        return Claim(slot.seq_id, keep, tuple(dropped), copy_from, copied)

    def decoded(self, seq_id: int, tokens: Sequence[int]) -> None:
        """``tokens`` are now in the sequence's cells, after what it held."""
        self._slots[seq_id].tokens.extend(tokens)

    def release(self, seq_id: int, *, keep: bool = True) -> None:
        """The turn ended; its cells stay for the conversation's next turn unless ``keep`` is
        False (a failed decode leaves them unknown)."""
        slot = self._slots[seq_id]
        slot.busy, slot.reserved = False, 0
        slot.last_used = next(self._clock)
        if not keep:
            self._forget(slot)

    def _slot_for(self, key: str | None, prompt: Sequence[int]) -> _Slot | None:
        own = self._by_key.get(key) if key is not None else None
        if own is not None:
            return None if own.busy else own
        idle = [s for s in self._slots if not s.busy]
        if key is None:  # no conversation: the idle anonymous sequence that matches best
            anonymous = [s for s in idle if s.key is None and s.resident]
            if anonymous:
                return max(anonymous, key=lambda s: common_prefix(s.tokens, prompt))
        empty = [s for s in idle if not s.resident]
        if empty:
            return empty[0]
        return min(idle, key=lambda s: s.last_used, default=None)

    def _best_prefix_source(self, prompt: Sequence[int], slot: _Slot) -> _Slot | None:
        best, length = None, MIN_SHARED_PREFIX - 1
        for other in self._slots:
            if other is slot or not other.resident:
                continue
            shared = common_prefix(other.tokens, prompt)
            if shared > length:
                best, length = other, shared
        return best

    def _victims(self, slot: _Slot, reserve: int) -> list[_Slot] | None:
        """The least recently used idle sequences whose cells must go for ``reserve`` cells
        to be free, or None when even dropping all of them is not enough."""
        free = self.free_cells(ignoring=slot)  # its own cells count in its reservation
        idle = sorted(
            (s for s in self._slots if not s.busy and s.resident and s is not slot),
            key=lambda s: s.last_used,
        )
        victims: list[_Slot] = []
        for victim in idle:
            if free >= reserve:
                break
            victims.append(victim)
            free += len(victim.tokens)
        return victims if free >= reserve else None

    def _forget(self, slot: _Slot) -> None:
        if slot.key is not None and self._by_key.get(slot.key) is slot:
            del self._by_key[slot.key]
        slot.key, slot.tokens, slot.resident = None, [], False
