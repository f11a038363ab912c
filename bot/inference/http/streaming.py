"""A streamed reply's pieces: stop strings applied, cut at the token budget whatever the
server does, and HTTP 5xx retried while nothing has been shown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from bot.errors import InferenceError
from bot.inference.http.errors import ServerError
from bot.inference.http.limits import RetryPolicy
from bot.inference.stops import StopMatcher

log = logging.getLogger(__name__)

# A reply is cut at its token budget whatever the server does: at most this many streamed
# pieces beyond max_tokens (a server may split a token) and this many bytes per token.
REPLY_PIECES_SLACK = 8
MAX_REPLY_BYTES_PER_TOKEN = 16
MIN_REPLY_BYTES = 1024


@dataclass(frozen=True, slots=True)
class ReplyLimit:
    """How much of a reply is read, whatever the server does with ``max_tokens``."""

    max_pieces: int
    max_bytes: int

    @classmethod
    def for_tokens(cls, max_tokens: int) -> ReplyLimit:
        return cls(
            max_pieces=max_tokens + REPLY_PIECES_SLACK,
            max_bytes=max(MIN_REPLY_BYTES, max_tokens * MAX_REPLY_BYTES_PER_TOKEN),
        )


def _clip_utf8(text: str, max_bytes: int) -> str:
    """The longest start of ``text`` that fits in ``max_bytes`` of UTF-8."""
    return text.encode()[:max_bytes].decode("utf-8", errors="ignore")


async def stream_with_retries(
    attempt: Callable[[], AsyncGenerator[str, None]],
    stop: Sequence[str],
    retry: RetryPolicy,
    label: str,
    limit: ReplyLimit | None = None,
) -> AsyncGenerator[str, None]:
    """Run ``attempt()`` (one request's raw text pieces) through a StopMatcher, with retries.

    A ``ServerError`` is retried only while nothing has been yielded: text held back by the
    matcher (a possible stop-sequence start) was never shown, so a retry cannot duplicate it.
    Each attempt gets a fresh matcher. The attempt's generator is always closed, so a stop
    found locally, the ``limit`` reached or a closed consumer ends the request at once.
    """
    retries_done = 0
    while True:
        matcher = StopMatcher(stop)
        emitted = False
        pieces_read = bytes_read = 0
        try:
            async with aclosing(attempt()) as pieces:
                async for raw in pieces:
                    piece, over = raw, False
                    if limit is not None:
                        pieces_read += 1
                        size = len(raw.encode())
                        if bytes_read + size > limit.max_bytes:
                            piece = _clip_utf8(raw, limit.max_bytes - bytes_read)
                            size = len(piece.encode())
                        bytes_read += size
                        over = bytes_read >= limit.max_bytes or pieces_read >= limit.max_pieces
                    text = matcher.feed(piece)
                    if text:
                        emitted = True
                        yield text
                    if matcher.stopped:
                        return
                    if over:
                        log.info(
                            "Reply from %s cut at %d pieces, %d bytes: the server went past "
                            "the token limit",
                            label,
                            pieces_read,
                            bytes_read,
                        )
                        break
            tail = matcher.flush()
            if tail:
                yield tail
            return
        except ServerError as error:
            if emitted or retries_done >= retry.max_retries:
                log.warning("Generation failed: %s", error.detail or error)
                raise
            retries_done += 1
            log.warning(
                "Generation at %s failed with HTTP %s before any text; retry %d of %d",
                label,
                error.status,
                retries_done,
                retry.max_retries,
            )
            await asyncio.sleep(retry.delay(retries_done))
        except InferenceError as error:
            log.warning("Generation failed: %s", error.detail or error)
            raise
