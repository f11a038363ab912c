"""A fast backend for load tests: it answers at once and names the latest numbered line it was
shown, so a test can tell which messages each reply covered. It implements the same Backend
protocol as the real ones (streaming, stop sequences, token counts) and never ships in bot/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from bot.inference.base import GenerationParams
from testkit.support.scripted import ScriptedBasics, stream_pieces

# What a load-test user writes: "line 41 from u3: ...". The reply says "(answering 41) ...".
LINE = re.compile(r"\bline (\d+) from ")
ANSWER = re.compile(r"^\(answering (\d+)\)")
BODY = ("The ", "lantern ", "flickers ", "and ", "the ", "tide ", "comes ", "in.")


def answer_of(text: str) -> int | None:
    """The line number a reply says it answered, if it says one."""
    found = ANSWER.match(text)
    return int(found.group(1)) if found else None


@dataclass
class AckBackend(ScriptedBasics):
    """Replies "(answering N) The lantern flickers..." in a few quick pieces, N being the last
    numbered line in the prompt (0 when there is none)."""

    piece_delay: float = 0.01  # seconds between pieces: fast, but still a real stream
    context_length: int = 2048
    name: str = "ack"
    model_name: str = "ack-model"
    generations: int = 0

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        self.generations += 1
        numbers = LINE.findall(prompt)
        # The number comes first and whole, so the first text a channel sees already says it.
        pieces = (f"(answering {numbers[-1] if numbers else 0}) ", *BODY)
        async for out in stream_pieces(pieces, stop, delay=self.piece_delay):
            yield out
