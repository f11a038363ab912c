"""The session engine: the roleplay core's three services, built together, and what a front
end may ask of the model's side (its status).

- ``sessions`` (bot/roleplay/sessions.py): start, stop, reset, the author's note, who may;
- ``history`` (bot/roleplay/history.py): members' lines, edits, deletions, export;
- ``replies`` (bot/roleplay/generation.py): a character's replies and their versions.

They share the prompt builder (bot/roleplay/context.py), which keeps each session's window in
memory; nothing here knows how a reply is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.inference.base import Backend, GenerationParams, context_resident, conversation_key
from bot.inference.scheduler import QueueStats, Scheduler
from bot.memory.service import MemoryService
from bot.prompt.render import PromptRenderer
from bot.roleplay.context import PromptBuilder
from bot.roleplay.generation import ReplyService
from bot.roleplay.history import HistoryService
from bot.roleplay.sessions import SessionService, SessionView
from bot.store import Database
from bot.values import PromptFormat, StoredMessage

__all__ = ["SessionEngine", "SessionStatus", "SessionView"]


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """What ``/session status`` shows of the model's side, read at one moment."""

    model_name: str
    backend_name: str
    prompt_format: PromptFormat
    context_length: int
    turns_in_prompt: int
    prompt_tokens: int
    lore_entries: int
    queue_position: int | None  # None: not waiting for the model
    context_resident: bool | None  # the backend keeps its evaluated context (None: keeps none)


class SessionEngine:
    def __init__(
        self,
        database: Database,
        backend: Backend,
        renderer: PromptRenderer,
        defaults: GenerationParams,
        *,
        history_limit: int = 200,
        scheduler: Scheduler | None = None,
        reply_timeout: float = 300.0,
        memory: MemoryService | None = None,
    ) -> None:
        self.database = database
        self._backend = backend
        self._renderer = renderer
        self._scheduler = scheduler or Scheduler(slots=backend.capabilities.max_concurrency)
        prompts = PromptBuilder(database, renderer, history_limit, memory)
        self.sessions = SessionService(database, prompts)
        self.replies = ReplyService(
            database,
            backend,
            renderer,
            prompts,
            self._scheduler,
            defaults,
            reply_timeout=reply_timeout,
        )

        def stored(message: StoredMessage) -> None:
            prompts.stored(message)
            self.replies.stored(message)

        self.history = HistoryService(database, history_limit, stored, prompts.forget_memory)

    @property
    def prompt_format(self) -> PromptFormat:
        return self._renderer.prompt_format

    @property
    def context_length(self) -> int:
        return self._renderer.context_length

    def queue(self) -> QueueStats:
        """The model's queue now: turns running and waiting."""
        return self._scheduler.stats()

    def adopt(self, prompt_format: PromptFormat, context_length: int) -> None:
        """Render and queue for the model as loaded: the format its name says, the context it
        reports, and as many replies at once as it serves (a local batch backend sizes
        PARALLEL from the memory it finds while loading)."""
        self._renderer.adopt(prompt_format, context_length)
        self._scheduler.slots = max(1, self._backend.capabilities.max_concurrency)

    @property
    def queue_slots(self) -> int:
        """How many replies the model writes at once."""
        return self._scheduler.slots

    async def status(self, view: SessionView) -> SessionStatus:
        """The prompt the session's next reply would get now, and its place in the queue.

        Counting the prompt's tokens waits for the model thread while a reply is written."""
        prompt = await self.replies.prompt_for(view.session.id, self.replies.defaults)
        return SessionStatus(
            model_name=self._backend.model_name,
            backend_name=self._backend.name,
            prompt_format=self._renderer.prompt_format,
            context_length=self._backend.context_length,
            turns_in_prompt=prompt.turns_included,
            prompt_tokens=prompt.token_count,
            lore_entries=prompt.lore_included,
            queue_position=self._scheduler.position(view.session.channel_id),
            context_resident=context_resident(self._backend, conversation_key(view.session.id)),
        )
