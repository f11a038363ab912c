"""Recording backends that fail the way real ones do: refuse, error, or die mid-stream.

Each failure happens once (``failures`` times); afterwards the backend answers like
``RecordingBackend``, so a test can check that the next message works."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from bot.errors import BackendUnavailable
from bot.inference.base import GenerationParams
from tests.support.recording_backend import RecordingBackend


@dataclass
class FailingBackend(RecordingBackend):
    """Raises ``error`` after ``pieces_first`` pieces of the reply (0: before any text)."""

    error: BaseException | None = None
    pieces_first: int = 0
    failures: int = 1

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        inner = super().stream(prompt, params, stop)
        if self.failures <= 0 or self.error is None:
            async for piece in inner:
                yield piece
            return
        self.failures -= 1
        given = 0
        async for piece in inner:
            if given >= self.pieces_first:
                break
            given += 1
            yield piece
        await inner.aclose()  # type: ignore[attr-defined]
        raise self.error


def refusing_backend(**kwargs: object) -> FailingBackend:
    """The backend is down: it refuses before writing anything."""
    return FailingBackend(
        error=BackendUnavailable("The model server is not reachable right now."),
        **kwargs,  # type: ignore[arg-type]
    )


def erroring_backend(**kwargs: object) -> FailingBackend:
    """An unexpected error (a bug or a broken response) before any text."""
    return FailingBackend(error=RuntimeError("500 from the model server"), **kwargs)  # type: ignore[arg-type]


def dying_backend(pieces_first: int = 3, **kwargs: object) -> FailingBackend:
    """The connection drops after a few pieces of the reply."""
    return FailingBackend(
        error=ConnectionResetError("connection reset by peer"),
        pieces_first=pieces_first,
        **kwargs,  # type: ignore[arg-type]
    )
