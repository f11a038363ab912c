"""The memory service: what front ends change and what the prompt builder asks for.

People see and change a session's memory here (``show``, ``pin``, ``unpin``, ``edit``,
``set_enabled``); anyone in the roleplay may pin a fact, while unpinning someone else's,
editing the summary and switching memory off need ``check_session_rights`` (whoever started
the roleplay, or an admin).

For each prompt, ``for_prompt`` gives the memory block and the recalled lines, and
``rendered`` hears where the window starts: when it moved past what the summary covers, a
summary job folds the trimmed lines (bot/memory/summarizer.py). A (session, character)'s
prompt shows the summary it adopted when its window last moved; a newer summary is adopted at
the next move, so the prompt's opening stays the same between two trims and a backend keeps
reusing what it evaluated. A member's edit, a pin or unpin shows at once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bot.common.memo import LruCache
from bot.errors import InvalidInput, NotFound
from bot.inference.base import Backend
from bot.inference.scheduler import Scheduler
from bot.memory.prompts import MAX_SUMMARY_CHARS, memory_lines, recalled_line, recalled_lines
from bot.memory.recall import best_lines, forgotten, search_terms
from bot.memory.summarizer import FoldRequest, Summarizer
from bot.policy import Caller, check_can_unpin, check_session_rights
from bot.prompt.render import PromptRenderer
from bot.prompt.tokens import TokenCounter
from bot.store import Database, UnitOfWork
from bot.values import (
    ChannelSession,
    MemorySummary,
    Pin,
    RecalledLine,
    Role,
    SessionMemory,
    StoredMessage,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)

MAX_PINS = 8
MAX_PIN_CHARS = 200
RECALL_LINES = 3
BYTES_PER_TOKEN_AT_LEAST = 3  # English runs about four bytes a token in Llama's vocabulary
RECALL_CANDIDATES = 24  # the newest lines holding a word; the best three of them come back
SESSIONS_REMEMBERED = 10_000
_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


def block_budget(context_length: int) -> int:
    """Tokens the memory block (summary and pins) may take: a sixth of the context."""
    return context_length // 6


def recall_budget(context_length: int) -> int:
    """Tokens recalled lines may take together, like a lorebook's budget."""
    return context_length // 12


@dataclass(frozen=True, slots=True)
class PromptMemory:
    """What memory adds to one prompt."""

    lines: tuple[str, ...] = ()  # the block in the character's definition
    recall: tuple[str, ...] = ()  # recalled lines, within their budget, oldest first


NO_MEMORY = PromptMemory()


@dataclass(slots=True)
class _Shown:
    """The summary a (session, character)'s prompts show, and where its window started."""

    summary: MemorySummary | None
    first_turn_id: int | None = None
    asked_before: int | None = None  # the window start a summary job was last asked for


class MemoryService:
    def __init__(
        self,
        database: Database,
        backend: Backend,
        scheduler: Scheduler,
        renderer: PromptRenderer,
        counter: TokenCounter,
        *,
        enabled: bool = True,
        patience: float = 60.0,
        retry_after: float = 30.0,
    ) -> None:
        self._db = database
        self._renderer = renderer
        self._counter = counter
        self.enabled = enabled
        self.summarizer = Summarizer(
            database,
            backend,
            scheduler,
            renderer,
            counter,
            patience=patience,
            retry_after=retry_after,
            on_saved=self._saved,
        )
        self._states: LruCache[int, SessionMemory] = LruCache(SESSIONS_REMEMBERED)
        self._shown: LruCache[tuple[int, int], _Shown] = LruCache(SESSIONS_REMEMBERED)
        self._blocks: LruCache[tuple[object, ...], tuple[str, ...]] = LruCache(1_000)

    # What people see and change

    async def show(self, session_id: int) -> SessionMemory:
        """The session's switch, summaries (one per character) and pins, as stored now."""
        self._require_feature()
        async with self._db.read() as uow:
            await _session_of(uow, session_id)
            return await uow.memory.state(session_id)

    async def pin(self, session_id: int, fact: str, *, caller: Caller) -> Pin:
        """Pin a fact: it stands in every prompt of the session until unpinned."""
        self._require_feature()
        fact = " ".join(fact.split())
        if not fact:
            raise InvalidInput("Write the fact to pin.")
        if len(fact) > MAX_PIN_CHARS:
            raise InvalidInput(f"A pinned fact can be at most {MAX_PIN_CHARS} characters.")
        async with self._db.write() as uow:
            await _session_of(uow, session_id)
            state = await uow.memory.state(session_id)
            if len(state.pins) >= MAX_PINS:
                raise InvalidInput(
                    f"This roleplay already has {MAX_PINS} pinned facts; unpin one first."
                )
            pin = await uow.memory.add_pin(session_id, fact, _signed(caller))
        self.forget(session_id, summaries=False)
        return pin

    async def unpin(self, session_id: int, number: int, *, caller: Caller) -> Pin:
        """Remove the ``number``-th pinned fact (as ``show`` lists them, from 1). Whoever
        pinned it may, and whoever may change the roleplay."""
        self._require_feature()
        async with self._db.write() as uow:
            session = await _session_of(uow, session_id)
            pins = (await uow.memory.state(session_id)).pins
            if not 1 <= number <= len(pins):
                raise NotFound(f"There is no pinned fact number {number} (there are {len(pins)}).")
            pin = pins[number - 1]
            check_can_unpin(caller, session, pin.pinned_by)
            await uow.memory.remove_pin(session_id, pin.id)
        self.forget(session_id, summaries=False)
        return pin

    async def edit(
        self, session_id: int, character_id: int, text: str, *, caller: Caller
    ) -> MemorySummary:
        """Replace a character's summary with ``text`` (it then grows from there)."""
        self._require_feature()
        text = " ".join(text.split())
        if len(text) > MAX_SUMMARY_CHARS:
            raise InvalidInput(f"A summary can be at most {MAX_SUMMARY_CHARS:,} characters.")
        async with self._db.write() as uow:
            session = await _session_of(uow, session_id)
            check_session_rights(caller, session)
            current = await uow.memory.summary(session_id, character_id)
            saved = await uow.memory.save_summary(
                session_id,
                character_id,
                summary=text,
                covered_until=current.covered_until if current else 0,
                expected_revision=None,
                edited_by=_signed(caller),
            )
        assert saved is not None  # no expected revision: always stored
        self.forget(session_id)
        return saved

    async def set_enabled(self, session_id: int, enabled: bool, *, caller: Caller) -> None:
        """Switch the session's memory on or off (off: prompts hold only the window)."""
        self._require_feature()
        async with self._db.write() as uow:
            session = await _session_of(uow, session_id)
            check_session_rights(caller, session)
            await uow.memory.set_enabled(session_id, enabled)
        self.forget(session_id)

    def _require_feature(self) -> None:
        if not self.enabled:
            raise InvalidInput("Memory is switched off on this bot (setting MEMORY).")

    # What prompts get

    async def for_prompt(
        self,
        uow: UnitOfWork,
        session_id: int,
        character_id: int,
        messages: Sequence[StoredMessage],
        *,
        window_start: int | None,
        since: int,
    ) -> PromptMemory:
        """The memory block and recalled lines for a prompt over ``messages`` (oldest first).

        ``window_start``: where the last prompt's window started (None: ``messages[0]``);
        recall looks only before it, and after ``since`` (what the character witnessed)."""
        if not self.enabled:
            return NO_MEMORY
        state = self._states.get(session_id)
        if state is None:
            state = self._states[session_id] = await uow.memory.state(session_id)
        if not state.enabled:
            return NO_MEMORY
        key = (session_id, character_id)
        shown = self._shown.get(key)
        if shown is None:
            shown = self._shown[key] = _Shown(_summary_of(state, character_id))
        lines = await self._block(shown.summary, state.pins)
        recall: tuple[str, ...] = ()
        if messages:
            before = window_start if window_start is not None else messages[0].id
            said = next((m for m in reversed(messages) if m.role is Role.HUMAN), messages[-1])
            # What the member said last, less what the window still shows.
            terms = forgotten(search_terms(said.content), messages, said)
            if terms.all and before > since + 1:
                found = await uow.memory.search(
                    session_id, terms.all, before=before, after=since, limit=RECALL_CANDIDATES
                )
                recall = self._within_budget(best_lines(found, terms, RECALL_LINES))
        return PromptMemory(lines, recall)

    async def rendered(
        self,
        session_id: int,
        character_id: int,
        character_name: str,
        first_turn_id: int | None,
        *,
        since: int,
    ) -> tuple[str, ...] | None:
        """A prompt was rendered with its window starting at ``first_turn_id``. Asks for a
        summary of what lies before it. When the window moved and a newer summary is there,
        adopts it and returns the new block: render again with it (None: keep the prompt)."""
        key = (session_id, character_id)
        shown = self._shown.get(key)
        state = self._states.get(session_id)
        if shown is None or state is None or first_turn_id is None or not state.enabled:
            return None
        moved = shown.first_turn_id is not None and shown.first_turn_id != first_turn_id
        shown.first_turn_id = first_turn_id
        covered = shown.summary.covered_until if shown.summary else 0
        if first_turn_id > max(covered, since) + 1 and (
            shown.asked_before != first_turn_id or self.summarizer.wants_retry(key)
        ):
            fold = FoldRequest(session_id, character_id, character_name, first_turn_id, since)
            if self.summarizer.request(fold):
                shown.asked_before = first_turn_id
        latest = _summary_of(state, character_id)
        if not moved or latest == shown.summary:
            return None
        shown.summary = latest
        return await self._block(latest, state.pins)

    def _within_budget(self, best_first: Sequence[RecalledLine]) -> tuple[str, ...]:
        """The best lines that fit the recall budget together (like a lorebook, the first
        that does not fit ends the list), shown oldest first. Costs are a bound, not a
        count (a token holds three bytes or more of text), so no tokenizer call per turn."""
        budget = recall_budget(self._renderer.context_length)
        kept: list[RecalledLine] = []
        for line in best_first:
            cost = len(recalled_line(line).encode()) // BYTES_PER_TOKEN_AT_LEAST + 2
            if cost > budget:
                break
            budget -= cost
            kept.append(line)
        return tuple(recalled_lines(kept))

    async def _block(self, summary: MemorySummary | None, pins: Sequence[Pin]) -> tuple[str, ...]:
        """The block within its token budget: every pin, then as much of the summary's end
        (its newest part) as fits."""
        budget = block_budget(self._renderer.context_length)
        cache_key = (summary.revision if summary else None, summary, tuple(pins), budget)
        lines = self._blocks.get(cache_key)
        if lines is not None:
            return lines
        text = summary.text if summary else ""
        sentences = _SENTENCE.split(text) if text else []
        while True:
            lines = memory_lines(" ".join(sentences), pins)
            if not lines or await self._counter.count("\n".join(lines)) <= budget:
                break
            if sentences:
                sentences = sentences[1:]
            else:
                pins = pins[:-1]  # pins alone past the budget: the newest wait outside
        self._blocks[cache_key] = lines
        return lines

    # Keeping caches true

    def _saved(self, summary: MemorySummary) -> None:
        """A summary job stored ``summary``: prompts adopt it when their window next moves."""
        state = self._states.get(summary.session_id)
        if state is None:
            return
        others = tuple(s for s in state.summaries if s.character_id != summary.character_id)
        self._states[summary.session_id] = replace(state, summaries=(*others, summary))

    def forget(self, session_id: int, *, summaries: bool = True) -> None:
        """The session's memory changed elsewhere (a reset, an edit, a changed old line):
        read it again; with ``summaries`` prompts also adopt the stored summary at once."""
        self._states.pop(session_id, None)
        if summaries:
            for key in [k for k in self._shown if k[0] == session_id]:
                del self._shown[key]

    def forget_everything(self) -> None:
        """After /forget me: any session may have changed."""
        self._states.clear()
        self._shown.clear()

    async def close(self) -> None:
        await self.summarizer.close()


def _summary_of(state: SessionMemory, character_id: int) -> MemorySummary | None:
    return next((s for s in state.summaries if s.character_id == character_id), None)


async def _session_of(uow: UnitOfWork, session_id: int) -> ChannelSession:
    session = await uow.sessions.get(session_id)
    if session is None:
        raise NotFound("That session no longer exists.")
    return session


def _signed(caller: Caller) -> int | None:
    """Who a pin or an edit is stored as: a member, or nobody for the operator."""
    return None if caller.is_operator else caller.user_id
