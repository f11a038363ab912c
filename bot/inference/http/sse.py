"""Server-sent events (text/event-stream), parsed as they arrive, each bounded in size."""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import aiohttp

from bot.inference.http.errors import unreadable_error

# One SSE line (one event's data) at most: a stream without line breaks is not a stream.
MAX_SSE_LINE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event: its type (``message`` unless named) and its joined data lines."""

    event: str
    data: str


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class _SseParser:
    """Incremental text/event-stream parser (WHATWG rules, lenient about the final event)."""

    def __init__(self, max_line: int = MAX_SSE_LINE_BYTES) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._max_line = max_line

    def feed(self, chunk: bytes, *, final: bool = False) -> list[SseEvent]:
        """Events completed by ``chunk``; ValueError when a line or an event is too long."""
        self._buffer += self._decoder.decode(chunk, final=final)
        events: list[SseEvent] = []
        at = 0
        while match := _LINE_BREAK.search(self._buffer, at):
            # A lone "\r" at the end of the buffer may be the first half of "\r\n".
            if match.group() == "\r" and match.end() == len(self._buffer) and not final:
                break
            self._line(self._buffer[at : match.start()], events)
            at = match.end()
        self._buffer = self._buffer[at:]  # one copy per chunk, not one per line
        if len(self._buffer) > self._max_line:
            raise ValueError("an event stream line is too long")
        if final:
            if self._buffer:
                self._line(self._buffer, events)
                self._buffer = ""
            # Some servers (older KoboldCpp) end with "data: [DONE]" and no blank line.
            self._line("", events)
        return events

    def _line(self, line: str, events: list[SseEvent]) -> None:
        if not line:
            if self._data:
                events.append(SseEvent(self._event or "message", "\n".join(self._data)))
            self._event, self._data, self._data_size = "", [], 0
            return
        if line.startswith(":"):
            return  # a comment / keep-alive
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data_size += len(value)
            if self._data_size > self._max_line:
                raise ValueError("an event stream event is too long")
            self._data.append(value)
        elif field == "event":
            self._event = value


async def iter_sse(
    response: aiohttp.ClientResponse, label: str = "the model server"
) -> AsyncGenerator[SseEvent, None]:
    """The events of a text/event-stream response, as they arrive (each bounded in size)."""
    parser = _SseParser()
    try:
        async for chunk in response.content.iter_any():
            for event in parser.feed(chunk):
                yield event
        for event in parser.feed(b"", final=True):
            yield event
    except ValueError as error:
        raise unreadable_error(label, str(error)) from None
