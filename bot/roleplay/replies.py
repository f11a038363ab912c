"""Writing one reply: stream the model's text, clean it as it grows, retry an empty one, and
give up cleanly at the reply timeout. The session engine decides what is asked and stored."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.errors import GenerationTimeout, InferenceError
from bot.inference.base import Backend, GenerationParams, conversation_key, open_stream
from bot.inference.http.errors import PromptTooLong
from bot.prompt.cleaning import ReplyCleaner
from bot.prompt.render import RenderedPrompt
from bot.values import StoredMessage

log = logging.getLogger(__name__)

OnText = Callable[[str], Awaitable[None]]
Rerender = Callable[[], Awaitable[RenderedPrompt]]
EMPTY_REPLY_RETRIES = 1
# Past this length the text shown while streaming is updated at most every UPDATE_SECONDS
# (Discord shows an edit about once a second anyway), so a long reply costs linear time.
SHOW_EVERY_PIECE_UP_TO = 4096
UPDATE_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Reply:
    message: StoredMessage
    prompt: RenderedPrompt
    seconds: float


class ReplyWriter:
    """Turns a rendered prompt into cleaned text from the backend."""

    def __init__(
        self,
        backend: Backend,
        *,
        reply_timeout: float = 300.0,
        on_overflow: Callable[[int], None] | None = None,
    ) -> None:
        self.backend = backend
        self._reply_timeout = reply_timeout
        self._on_overflow = on_overflow  # the renderer keeps more room from now on

    async def write(
        self,
        session_id: int,
        prompt: RenderedPrompt,
        params: GenerationParams,
        on_text: OnText | None,
        rerender: Rerender | None = None,
    ) -> str:
        """The cleaned reply; an empty one is tried again once with another seed.

        When the server says the prompt does not fit its context (the estimate was short),
        the renderer makes more room and ``rerender`` renders the prompt again: tried once."""
        log.debug("Prompt for session %d:\n%s", session_id, prompt.text)
        for attempt in range(EMPTY_REPLY_RETRIES + 1):
            try:
                text = await self._stream_clean(session_id, prompt, params, on_text)
            except PromptTooLong:
                if rerender is None or self._on_overflow is None:
                    raise
                log.warning(
                    "The server found the prompt of session %d (%d tokens counted) too long; "
                    "trimming and trying again",
                    session_id,
                    prompt.token_count,
                )
                self._on_overflow(prompt.token_count)
                prompt, rerender = await rerender(), None
                text = await self._stream_clean(session_id, prompt, params, on_text)
            if text:
                return text
            log.info("Empty reply in session %d (attempt %d)", session_id, attempt + 1)
            params = params.replace(seed=None if params.seed is None else params.seed + 1)
        raise InferenceError(
            "The character had nothing to say this time. Send another message, or try again "
            "in a moment."
        )

    @staticmethod
    def finished(
        session_id: int, message: StoredMessage, prompt: RenderedPrompt, started: float
    ) -> Reply:
        seconds = time.monotonic() - started
        log.info(
            "Reply in session %d: %d prompt tokens, %d turns, %d chars in %.2f s",
            session_id,
            prompt.token_count,
            prompt.turns_included,
            len(message.content),
            seconds,
        )
        return Reply(message=message, prompt=prompt, seconds=seconds)

    async def _stream_clean(
        self,
        session_id: int,
        prompt: RenderedPrompt,
        params: GenerationParams,
        on_text: OnText | None,
    ) -> str:
        raw: list[str] = []
        shown, shown_at = "", 0.0
        cleaner = ReplyCleaner(character_name=prompt.character_name, speakers=prompt.speakers)
        stream = open_stream(
            self.backend,
            prompt.text,
            params,
            prompt.stop,
            conversation=conversation_key(session_id),
        )
        deadline = time.monotonic() + self._reply_timeout
        try:
            while not cleaner.cut:  # once someone else's line begins, the rest is not needed
                try:
                    piece = await asyncio.wait_for(
                        anext(stream), max(0.0, deadline - time.monotonic())
                    )
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise GenerationTimeout(
                        "The model took too long to answer. The conversation is kept: send "
                        "another message to try again."
                    ) from None
                raw.append(piece)
                cleaner.feed(piece)
                if on_text is None:
                    continue
                now = time.monotonic()
                if len(shown) > SHOW_EVERY_PIECE_UP_TO and now - shown_at < UPDATE_SECONDS:
                    continue
                current = cleaner.text()
                if current != shown and current:
                    shown, shown_at = current, now
                    await on_text(current)
            if on_text is not None and (current := cleaner.text()) and current != shown:
                await on_text(current)  # the last pieces, when they came faster than updates
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        truncated = not cleaner.cut and await self._hit_token_limit("".join(raw), params)
        return cleaner.result(truncated=truncated)

    async def _hit_token_limit(self, raw: str, params: GenerationParams) -> bool:
        if not raw:
            return False
        return await self.backend.count_tokens(raw) >= params.max_new_tokens - 1


def join_continuation(before: str, more: str) -> str:
    """Join a continuation to the text it continues, with a space unless one is not needed."""
    if not more:
        return before
    if before.endswith((" ", "\n")) or more.startswith((" ", "\n", ",", ".", "!", "?")):
        return before + more
    return f"{before} {more}"
