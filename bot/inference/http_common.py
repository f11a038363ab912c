"""What every HTTP backend shares: sessions, timeouts, error mapping, retries and SSE parsing.

Failures become :mod:`bot.errors` exceptions whose ``user_message`` a Discord user can read:

* connection refused / DNS failure / no TCP connection in time -> ``BackendUnavailable``
* HTTP 401/403 -> ``BackendUnavailable`` about the API key
* other HTTP 4xx -> ``InferenceError`` with the server's own message, trimmed
* HTTP 5xx -> ``ServerError`` (an ``InferenceError``), retried with backoff, but only while
  no text has reached the caller: retrying after that would repeat the reply's beginning
* timeouts -> ``GenerationTimeout``
* malformed JSON or a stream cut short -> ``InferenceError`` ("... could not read ...")

Nothing here logs an API key, and prompts are logged only at DEBUG by the backends.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from yarl import URL

from bot.errors import BackendUnavailable, GalateaError, GenerationTimeout, InferenceError
from bot.inference.stops import StopMatcher

log = logging.getLogger(__name__)

_MAX_SERVER_MESSAGE_CHARS = 300
_MAX_ERROR_BODY_BYTES = 16_384
# aiohttp >= 3.10 tells a connect timeout apart from a read timeout; older versions don't.
_CONNECT_TIMEOUT_ERRORS: tuple[type[BaseException], ...] = tuple(
    error
    for error in (getattr(aiohttp, "ConnectionTimeoutError", None),)
    if isinstance(error, type)
)


@dataclass(frozen=True, slots=True)
class HttpTimeouts:
    """Seconds allowed for connecting, for a whole request, and (optionally) between bytes."""

    connect: float = 10.0
    total: float = 300.0
    read: float | None = None  # longest silence inside a response; None: only ``total``

    def client_timeout(self) -> aiohttp.ClientTimeout:
        # sock_connect, not connect: waiting for a free pooled connection is not a sign
        # that the server is unreachable, only a new TCP connection that hangs is.
        return aiohttp.ClientTimeout(
            total=self.total, sock_connect=self.connect, sock_read=self.read
        )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a request the server failed with HTTP 5xx."""

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 4.0

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based): exponential backoff."""
        return min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))


NO_RETRY = RetryPolicy(max_retries=0)


class ServerError(InferenceError):
    """The server failed with HTTP 5xx (or said so inside a stream); worth a retry."""

    def __init__(self, user_message: str, status: int) -> None:
        super().__init__(user_message)
        self.status = status


# --- addresses and messages -------------------------------------------------------------------


def server_label(url: str) -> str:
    """``scheme://host:port`` of ``url``: safe to show, since it drops credentials and path."""
    try:
        origin = URL(url).origin()
    except ValueError:
        return "(invalid address)"
    return str(origin)


def join_url(base: str, path: str) -> str:
    """``base`` (without trailing slash) + ``/`` + ``path`` (without leading slash)."""
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def unreachable_error(label: str) -> BackendUnavailable:
    return BackendUnavailable(
        f"The model server at {label} is not reachable. Check that it is running and that the "
        "address in the settings is right."
    )


def not_answering_error(label: str) -> BackendUnavailable:
    """A server that accepted the connection but did not answer a quick check in time."""
    return BackendUnavailable(
        f"The model server at {label} did not answer in time. Check that it is running and "
        "not overloaded."
    )


def unreadable_error(label: str, detail: str) -> InferenceError:
    return InferenceError(
        f"The model server sent a reply Galatea could not read ({detail}). "
        f"Check the server at {label} and try again."
    )


def timeout_error(label: str, seconds: float, *, silence: bool = False) -> GenerationTimeout:
    if silence:
        return GenerationTimeout(
            f"The model server at {label} stopped sending for {seconds:g} seconds, so Galatea "
            "gave up on this reply. Try again, or ask for a shorter reply."
        )
    return GenerationTimeout(
        f"The model server at {label} did not finish within {seconds:g} seconds, so Galatea "
        "gave up on this reply. Try again, or ask for a shorter reply."
    )


def extract_server_message(body: str) -> str:
    """The human-readable part of an error body (JSON error shapes or plain text), trimmed."""
    text = body.strip()
    message: object = text
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if parsed is not None:
        message = _message_from_json(parsed)
    elif text.lstrip().startswith("<"):
        message = ""  # an HTML error page says nothing useful in one line
    collapsed = " ".join(str(message).split())
    if len(collapsed) > _MAX_SERVER_MESSAGE_CHARS:
        collapsed = collapsed[: _MAX_SERVER_MESSAGE_CHARS - 1].rstrip() + "…"
    return collapsed


def _message_from_json(parsed: object) -> str:
    """Dig the message out of the shapes servers use: OpenAI, FastAPI, KoboldCpp, plain."""
    node = parsed
    for _ in range(4):  # error -> detail -> [0] -> msg is as deep as real servers nest
        if isinstance(node, list) and node:
            node = node[0]
            continue
        if not isinstance(node, Mapping):
            break
        inner = next(
            (
                node[key]
                for key in ("error", "detail", "message", "msg")
                if isinstance(node.get(key), str | Mapping | list) and node.get(key)
            ),
            None,
        )
        if inner is None:
            break
        node = inner
    return node if isinstance(node, str) else json.dumps(node)


def error_for_status(status: int, body: str, label: str) -> InferenceError:
    """The error to raise for an HTTP error ``status`` with response ``body``."""
    message = extract_server_message(body)
    said = f": {message}" if message else ""
    if status in (401, 403):
        return BackendUnavailable(
            f"The model server at {label} refused Galatea's API key (HTTP {status}). "
            "Check the API key in the settings."
        )
    if status >= 500:
        return ServerError(
            f"The model server at {label} failed while answering (HTTP {status}){said}. "
            "Try again in a moment.",
            status,
        )
    if status == 404:
        return InferenceError(
            f"The model server at {label} does not offer the address Galatea called "
            f"(HTTP 404){said}. Check the server address and backend type in the settings."
        )
    return InferenceError(f"The model server at {label} rejected the request (HTTP {status}){said}")


def error_from_stream_payload(payload: Mapping[str, Any], label: str) -> InferenceError:
    """An error object sent inside a 200 stream (vLLM and llama.cpp do this)."""
    error = payload.get("error")
    status = 500
    if isinstance(error, Mapping):
        code = error.get("code")
        if isinstance(code, int) and 400 <= code < 600:
            status = code
    return error_for_status(status, json.dumps(payload), label)


def map_transport_error(
    error: BaseException, label: str, timeouts: HttpTimeouts
) -> GalateaError | None:
    """The user-facing error for a transport failure, or None to let ``error`` propagate."""
    if isinstance(error, GalateaError) or not isinstance(error, Exception):
        return None  # already mapped, or CancelledError / GeneratorExit: must pass untouched
    if isinstance(error, _CONNECT_TIMEOUT_ERRORS):
        return unreachable_error(label)
    if isinstance(error, TimeoutError):  # asyncio.TimeoutError and aiohttp's timeouts
        read_timeout = getattr(aiohttp, "SocketTimeoutError", None)
        if timeouts.read is not None and read_timeout and isinstance(error, read_timeout):
            return timeout_error(label, timeouts.read, silence=True)
        return timeout_error(label, timeouts.total)
    if isinstance(error, aiohttp.ClientSSLError):
        return BackendUnavailable(
            f"The secure (TLS) connection to the model server at {label} failed; check its "
            "certificate and that the address uses the right scheme (http or https)."
        )
    if isinstance(error, aiohttp.ClientConnectorError):
        return unreachable_error(label)
    if isinstance(error, aiohttp.InvalidURL):
        return BackendUnavailable(
            "The model server address in the settings is not a valid URL. Fix it and restart."
        )
    if isinstance(error, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return unreadable_error(label, "the connection closed before the reply was complete")
    if isinstance(error, aiohttp.ClientError | ConnectionError):
        return unreadable_error(label, f"the connection failed: {type(error).__name__}")
    if isinstance(error, json.JSONDecodeError | UnicodeDecodeError):
        return unreadable_error(label, "the data was not valid JSON")
    return None


class translate_errors:
    """Turn aiohttp/JSON exceptions raised in the block into user-facing GalateaErrors."""

    def __init__(self, label: str, timeouts: HttpTimeouts) -> None:
        self._label = label
        self._timeouts = timeouts

    def __enter__(self) -> translate_errors:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        mapped = map_transport_error(exc, self._label, self._timeouts)
        if mapped is not None:
            raise mapped from exc


# --- sessions and requests --------------------------------------------------------------------


def build_session(
    timeouts: HttpTimeouts, headers: Mapping[str, str] | None = None, *, connection_limit: int = 10
) -> aiohttp.ClientSession:
    """One session per backend: pooled connections, explicit timeouts, fixed headers."""
    return aiohttp.ClientSession(
        timeout=timeouts.client_timeout(),
        headers=dict(headers or {}),
        connector=aiohttp.TCPConnector(limit=connection_limit),
        raise_for_status=False,
    )


def bearer_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


@asynccontextmanager
async def open_response(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    label: str,
    json_body: object = None,
    client_timeout: aiohttp.ClientTimeout | None = None,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """Send a request and yield the response once it has a 2xx status.

    Error statuses raise the mapped error. Leaving the block early (an error, a closed
    generator, a cancelled task) closes the connection outright, which is how servers notice
    that nobody is listening and stop generating.
    """
    kwargs: dict[str, Any] = {}
    if json_body is not None:
        kwargs["json"] = json_body
    if client_timeout is not None:
        kwargs["timeout"] = client_timeout
    response = await session.request(method, url, **kwargs)
    try:
        if response.status >= 400:
            body = await _read_error_body(response)
            raise error_for_status(response.status, body, label)
        yield response
    finally:
        if response.content.at_eof():
            response.release()  # fully read: the connection can serve the next request
        else:
            response.close()


async def _read_error_body(response: aiohttp.ClientResponse) -> str:
    try:
        raw = await response.content.read(_MAX_ERROR_BODY_BYTES)
    except (aiohttp.ClientError, TimeoutError):
        return ""
    return raw.decode("utf-8", errors="replace")


def parse_json(data: str | bytes, label: str) -> Any:
    """``json.loads`` that raises the user-facing "could not read" error."""
    try:
        return json.loads(data)
    except ValueError as error:
        raise unreadable_error(label, "the data was not valid JSON") from error


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    label: str,
    timeouts: HttpTimeouts,
    retry: RetryPolicy = NO_RETRY,
    json_body: object = None,
    client_timeout: aiohttp.ClientTimeout | None = None,
) -> Any:
    """One JSON request/response with error mapping; HTTP 5xx retried per ``retry``."""
    retries_done = 0
    while True:
        try:
            with translate_errors(label, timeouts):
                async with open_response(
                    session,
                    method,
                    url,
                    label=label,
                    json_body=json_body,
                    client_timeout=client_timeout,
                ) as response:
                    return parse_json(await response.read(), label)
        except ServerError as error:
            if retries_done >= retry.max_retries:
                raise
            retries_done += 1
            log.warning(
                "%s %s failed with HTTP %s; retry %d of %d",
                method,
                label,
                error.status,
                retries_done,
                retry.max_retries,
            )
            await asyncio.sleep(retry.delay(retries_done))


# --- streaming --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event: its type (``message`` unless named) and its joined data lines."""

    event: str
    data: str


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class _SseParser:
    """Incremental text/event-stream parser (WHATWG rules, lenient about the final event)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes, *, final: bool = False) -> list[SseEvent]:
        self._buffer += self._decoder.decode(chunk, final=final)
        events: list[SseEvent] = []
        while match := _LINE_BREAK.search(self._buffer):
            # A lone "\r" at the end of the buffer may be the first half of "\r\n".
            if match.group() == "\r" and match.end() == len(self._buffer) and not final:
                break
            line, self._buffer = self._buffer[: match.start()], self._buffer[match.end() :]
            self._line(line, events)
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
            self._event, self._data = "", []
            return
        if line.startswith(":"):
            return  # a comment / keep-alive
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value


async def iter_sse(response: aiohttp.ClientResponse) -> AsyncIterator[SseEvent]:
    """The events of a text/event-stream response, as they arrive."""
    parser = _SseParser()
    async for chunk in response.content.iter_any():
        for event in parser.feed(chunk):
            yield event
    for event in parser.feed(b"", final=True):
        yield event


async def stream_with_retries(
    attempt: Callable[[], AsyncIterator[str]],
    stop: Sequence[str],
    retry: RetryPolicy,
    label: str,
) -> AsyncIterator[str]:
    """Run ``attempt()`` (one request's raw text pieces) through a StopMatcher, with retries.

    A ``ServerError`` is retried only while nothing has been yielded: text held back by the
    matcher (a possible stop-sequence start) was never shown, so a retry cannot duplicate it.
    Each attempt gets a fresh matcher. The attempt's generator is always closed, so a stop
    found locally or a closed consumer ends the request at once.
    """
    retries_done = 0
    while True:
        matcher = StopMatcher(stop)
        emitted = False
        try:
            async with aclosing(attempt()) as pieces:
                async for piece in pieces:
                    text = matcher.feed(piece)
                    if text:
                        emitted = True
                        yield text
                    if matcher.stopped:
                        return
            tail = matcher.flush()
            if tail:
                yield tail
            return
        except ServerError as error:
            if emitted or retries_done >= retry.max_retries:
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
