"""HTTP failures as the errors a member reads: a short sentence, with the server's own words
and address kept as the (redacted) detail for the operator."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

from bot.errors import BackendUnavailable, GalateaError, GenerationTimeout, InferenceError
from bot.inference.http.limits import HttpTimeouts

log = logging.getLogger(__name__)

_MAX_SERVER_MESSAGE_CHARS = 300
# aiohttp >= 3.10 tells a connect timeout apart from a read timeout; older versions don't.
_CONNECT_TIMEOUT_ERRORS: tuple[type[BaseException], ...] = tuple(
    error
    for error in (getattr(aiohttp, "ConnectionTimeoutError", None),)
    if isinstance(error, type)
)


class ServerError(InferenceError):
    """The server failed with HTTP 5xx (or said so inside a stream); worth a retry."""

    def __init__(self, user_message: str, status: int) -> None:
        super().__init__(user_message)
        self.status = status


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
