"""A scripted backend that tells summary prompts from roleplay prompts, for the memory tests.

Roleplay prompts get ``reply``; summary prompts get what ``summarize`` makes of them (by default
the summary so far, then the names of the new lines' speakers and the words they wrote in
capitals: content a test can follow from turn to turn). Every prompt is recorded."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from bot.inference.base import GenerationParams
from testkit.support.scripted import ScriptedBasics, stream_pieces

_SO_FAR = re.compile(r"Summary so far: (.*?)(?:\]|\n\nNew lines:)", re.S)
_SHOUTED = re.compile(r"\b[A-Z]{4,}\b")


def is_summary_prompt(prompt: str) -> bool:
    return "Summary so far:" in prompt


def keep_shouted(prompt: str) -> str:
    """The summary so far plus every word the new lines wrote in capitals."""
    found = _SO_FAR.search(prompt)
    so_far = found.group(1).strip() if found else ""
    so_far = "" if so_far == "(nothing yet)" else so_far
    new_part = prompt[found.end() :] if found else prompt
    words = list(dict.fromkeys(w for w in _SHOUTED.findall(new_part) if w not in so_far))
    added = f"Mentioned: {', '.join(words)}." if words else ""
    return " ".join(part for part in (so_far, added) if part) or "Nothing happened."


@dataclass
class ChronicleBackend(ScriptedBasics):
    reply: str = "Indeed."
    summarize: Callable[[str], str] = keep_shouted
    context_length: int = 512
    delay: float = 0.0  # seconds between pieces of a summary (to hold the model a while)
    prompts: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)  # the summary prompts
    cancelled: int = 0  # summary generations stopped before their end
    summarizing: asyncio.Event = field(default_factory=asyncio.Event)  # one has started
    name: str = "chronicle"
    model_name: str = "chronicle-model"

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        summary = is_summary_prompt(prompt)
        (self.summaries if summary else self.prompts).append(prompt)
        if summary:
            self.summarizing.set()
        text = self.summarize(prompt) if summary else self.reply
        try:
            async for piece in stream_pieces(
                text.split(" "), stop, delay=self.delay if summary else 0.0
            ):
                yield piece + " "
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += summary
            raise
