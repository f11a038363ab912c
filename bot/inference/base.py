"""The seam every inference backend implements.

A backend turns a rendered prompt into a stream of text pieces. It knows nothing of characters,
Discord or the store: the prompt layer hands it text, stop sequences and sampler settings.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

# Sampler settings a backend may or may not honour, with the value that means "off".
NEUTRAL_SAMPLER_VALUES: dict[str, object] = {
    "top_k": 0,
    "top_p": 1.0,
    "repetition_penalty": 1.0,
    "typical_p": 1.0,
    "min_p": 0.0,
    "repetition_penalty_range": 0,
    "mirostat_mode": 0,
    "seed": None,
}


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Sampler settings for one reply. ``None``/neutral values mean "backend default/off"."""

    max_new_tokens: int = 180
    temperature: float = 0.8
    top_p: float = 0.9
    top_k: int = 0
    repetition_penalty: float = 1.1
    typical_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty_range: int = 0
    mirostat_mode: int = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    seed: int | None = None

    def requested_samplers(self) -> frozenset[str]:
        """Names of the sampler settings that differ from "off" and so need backend support."""
        return frozenset(
            name
            for name, neutral in NEUTRAL_SAMPLER_VALUES.items()
            if getattr(self, name) != neutral
        )

    def replace(self, **changes: object) -> GenerationParams:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do, so callers and logs can tell the user what is not honoured."""

    samplers: frozenset[str]
    streaming: bool = True
    max_concurrency: int = 1  # how many generations it runs at once (HTTP servers batch)
    exact_token_count: bool = True  # False when counting falls back to an estimate
    gpu_offload: bool = False  # True only when layers really run on a GPU


@dataclass(slots=True)
class UnsupportedSamplerLog:
    """Logs once per backend and setting that a requested sampler is not honoured."""

    backend_name: str
    _reported: set[str] = field(default_factory=set)

    def check(self, params: GenerationParams, capabilities: Capabilities) -> None:
        for name in sorted(params.requested_samplers() - capabilities.samplers):
            if name not in self._reported:
                self._reported.add(name)
                log.warning(
                    "Backend %s cannot honour sampler setting %s=%r; it is ignored for every "
                    "reply from this backend",
                    self.backend_name,
                    name,
                    getattr(params, name),
                )


@runtime_checkable
class Backend(Protocol):
    """An inference backend. Implementations live one per module in bot/inference/."""

    @property
    def name(self) -> str:
        """Short backend id, e.g. ``ctransformers`` or ``openai``."""
        ...

    @property
    def model_name(self) -> str:
        """The model being served, as the operator named it."""
        ...

    @property
    def context_length(self) -> int:
        """Total tokens the model attends to: prompt plus reply."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def load(self) -> None:
        """Load weights or check the server; idempotent. Raises BackendUnavailable."""
        ...

    async def close(self) -> None:
        """Release the model or connections; idempotent."""
        ...

    async def count_tokens(self, text: str) -> int:
        """Tokens ``text`` occupies in the model's context (BOS not included)."""
        ...

    def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        """Yield text pieces as the model produces them.

        Generation stops at the first stop sequence (which is not yielded), at
        ``params.max_new_tokens`` or at end of text. Closing the iterator (or cancelling the
        task consuming it) stops the generation between two tokens.
        """
        ...


async def generate_text(
    backend: Backend,
    prompt: str,
    params: GenerationParams,
    stop: Sequence[str],
    *,
    conversation: str | None = None,
) -> str:
    """Collect a whole reply (``conversation``: as ``open_stream`` takes it)."""
    pieces: list[str] = []
    stream = open_stream(backend, prompt, params, stop, conversation=conversation)
    try:
        async for piece in stream:
            pieces.append(piece)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return "".join(pieces)


@runtime_checkable
class ConversationAware(Protocol):
    """A backend that keeps per-conversation state (a pool of model instances, saved KV
    states) and so wants to know which conversation a prompt continues."""

    def stream_for(
        self, conversation: str, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]: ...


@runtime_checkable
class KeepsContexts(Protocol):
    """A backend that keeps each conversation's evaluated context between turns."""

    def resident(self, conversation: str) -> bool | None: ...


def context_resident(backend: Backend, conversation: str) -> bool | None:
    """Whether ``conversation``'s context is kept (its next turn evaluates only what is new);
    None when the backend keeps no per-conversation contexts."""
    if isinstance(backend, KeepsContexts):
        return backend.resident(conversation)
    return None


def conversation_key(session_id: int) -> str:
    """The key a session's prompts are streamed under (``open_stream(conversation=...)``)."""
    return f"session:{session_id}"


def open_stream(
    backend: Backend,
    prompt: str,
    params: GenerationParams,
    stop: Sequence[str],
    *,
    conversation: str | None = None,
) -> AsyncIterator[str]:
    """``backend.stream``, telling conversation-aware backends which conversation this is."""
    if conversation is not None and isinstance(backend, ConversationAware):
        return backend.stream_for(conversation, prompt, params, stop)
    return backend.stream(prompt, params, stop)
