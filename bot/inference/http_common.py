"""What every HTTP backend shares: sessions, timeouts, error mapping, retries and SSE parsing.

Failures become :mod:`bot.errors` exceptions whose ``user_message`` a Discord user can read:

* connection refused / DNS failure / no TCP connection in time -> ``BackendUnavailable``
* HTTP 401/403 -> ``BackendUnavailable`` about the API key
* HTTP 400/413/422 saying the prompt is too long -> ``PromptTooLong``
* other HTTP 4xx -> ``InferenceError``
* HTTP 5xx -> ``ServerError`` (an ``InferenceError``), retried with backoff, but only while
  no text has reached the caller: retrying after that would repeat the reply's beginning
* timeouts -> ``GenerationTimeout``
* malformed JSON or a stream cut short -> ``InferenceError`` ("... could not read ...")

A member only ever reads the short sentence; the server's own words and its address (paths,
hosts, a URL with a password) are the error's ``detail``, logged with secrets redacted.
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
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from bot.common.bounded_read import BodyTooLarge, read_at_most
from bot.errors import BackendUnavailable, GalateaError, GenerationTimeout, InferenceError
from bot.inference.stops import StopMatcher

log = logging.getLogger(__name__)

_MAX_SERVER_MESSAGE_CHARS = 300
_MAX_ERROR_BODY_BYTES = 16_384
# A JSON answer (a model list, a token count, a whole completion) is read at most this far:
# a server that sends more is refused before its body costs memory or event-loop time.
MAX_BODY_BYTES = 8 * 1024 * 1024
_PARSE_IN_THREAD_BYTES = 256 * 1024  # parsing more than this would hold up the event loop
# One SSE line (one event's data) at most: a stream without line breaks is not a stream.
MAX_SSE_LINE_BYTES = 1024 * 1024
# A reply is cut at its token budget whatever the server does: at most this many streamed
# pieces beyond max_tokens (a server may split a token) and this many bytes per token.
REPLY_PIECES_SLACK = 8
MAX_REPLY_BYTES_PER_TOKEN = 16
MIN_REPLY_BYTES = 1024
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


_Error = TypeVar("_Error", bound=InferenceError)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_SECRET_FIELD = re.compile(
    r"(?i)\b(bearer\s+|(?:api[_-]?key|token|secret|password|passwd|auth)[\"']?\s*[=:]\s*[\"']?)"
    r"[^\s\"'&,;]+"
)


def redact(text: str) -> str:
    """``text`` without URL credentials, bearer tokens or ``key=value`` secrets: for logs."""
    return _SECRET_FIELD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def with_detail(error: _Error, detail: str) -> _Error:
    """Attach what went wrong, for the operator: logged (redacted) once, never shown in a
    channel. The error's ``user_message`` stays a short sentence without addresses or the
    server's own words (paths, hosts, even passwords have been seen in them)."""
    error.detail = redact(detail)
    # INFO: a probe at start-up that finds no endpoint also lands here; a reply that fails
    # is logged again at WARNING where it gives up (stream_with_retries).
    log.info("%s [%s]", error.user_message, error.detail)
    return error


def unreachable_error(label: str) -> BackendUnavailable:
    return with_detail(
        BackendUnavailable(
            "The model server is not reachable. Check that it is running and that the address "
            "in the settings is right."
        ),
        f"no connection to {label}",
    )


def not_answering_error(label: str) -> BackendUnavailable:
    """A server that accepted the connection but did not answer a quick check in time."""
    return with_detail(
        BackendUnavailable(
            "The model server did not answer in time. Check that it is running and not overloaded."
        ),
        f"no answer from {label}",
    )


def unreadable_error(label: str, detail: str) -> InferenceError:
    return with_detail(
        InferenceError("The model server sent a reply Galatea could not read. Try again."),
        f"{label}: {detail}",
    )


def timeout_error(label: str, seconds: float, *, silence: bool = False) -> GenerationTimeout:
    if silence:
        error = GenerationTimeout(
            f"The model server stopped sending for {seconds:g} seconds, so Galatea gave up on "
            "this reply. Try again, or ask for a shorter reply."
        )
    else:
        error = GenerationTimeout(
            f"The model server did not finish within {seconds:g} seconds, so Galatea gave up "
            "on this reply. Try again, or ask for a shorter reply."
        )
    return with_detail(error, f"timeout at {label}")


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


class PromptTooLong(InferenceError):
    """The server refused the prompt as longer than its context (HTTP 400/413): the prompt
    can be rendered again with less history."""


# How servers word "the prompt does not fit" (vLLM, llama.cpp, KoboldCpp, TGI, OpenAI).
_TOO_LONG = re.compile(
    r"context.{0,20}(length|window|size|limit)|maximum context|too (long|many tokens)|"
    r"exceeds?.{0,40}(context|tokens|n_ctx|max)|n_ctx|max_length|input validation error",
    re.IGNORECASE,
)


def error_for_status(status: int, body: str, label: str) -> InferenceError:
    """The error to raise for an HTTP error ``status`` with response ``body``.

    The member reads a short sentence; the server's own message goes to the log."""
    message = extract_server_message(body)
    detail = f"HTTP {status} from {label}" + (f": {message}" if message else "")
    if status in (401, 403):
        return with_detail(
            BackendUnavailable(
                f"The model server refused Galatea's API key (HTTP {status}). Check the API "
                "key in the settings."
            ),
            detail,
        )
    if status >= 500:
        return with_detail(
            ServerError(
                f"The model server failed while answering (HTTP {status}). Try again in a moment.",
                status,
            ),
            detail,
        )
    if status == 404:
        return with_detail(
            InferenceError(
                "The model server does not offer the address Galatea called (HTTP 404). Check "
                "the server address and backend type in the settings."
            ),
            detail,
        )
    if status in (400, 413, 422) and _TOO_LONG.search(message):
        return with_detail(
            PromptTooLong(
                "The conversation is too long for the model's context. Try again, or start a "
                "new session."
            ),
            detail,
        )
    return with_detail(
        InferenceError(f"The model server rejected the request (HTTP {status})."), detail
    )


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
        return with_detail(
            BackendUnavailable(
                "The secure (TLS) connection to the model server failed; check its "
                "certificate and that the address uses the right scheme (http or https)."
            ),
            f"{label}: {error}",
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


async def read_body(
    response: aiohttp.ClientResponse, label: str, limit: int = MAX_BODY_BYTES
) -> bytes:
    """The response body, refused past ``limit`` bytes before more of it is read."""
    try:
        return await read_at_most(response, limit)
    except BodyTooLarge as too_large:
        if too_large.declared is not None:
            cause = f"the reply was {too_large.declared} bytes, over {limit}"
        else:
            cause = f"the reply was over {limit} bytes"
        raise unreadable_error(label, cause) from None


async def read_json(response: aiohttp.ClientResponse, label: str) -> Any:
    """A bounded JSON body, parsed off the event loop when it is large."""
    data = await read_body(response, label)
    if len(data) > _PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse_json, data, label)
    return parse_json(data, label)


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
                    return await read_json(response, label)
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
) -> AsyncIterator[SseEvent]:
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
    attempt: Callable[[], AsyncIterator[str]],
    stop: Sequence[str],
    retry: RetryPolicy,
    label: str,
    limit: ReplyLimit | None = None,
) -> AsyncIterator[str]:
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
