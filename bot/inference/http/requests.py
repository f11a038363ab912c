"""Sessions and JSON requests: bounded bodies, mapped errors, HTTP 5xx retried."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from yarl import URL

from bot.common.bounded_read import BodyTooLarge, read_at_most
from bot.inference.http.errors import (
    ServerError,
    error_for_status,
    translate_errors,
    unreadable_error,
)
from bot.inference.http.limits import NO_RETRY, HttpTimeouts, RetryPolicy

log = logging.getLogger(__name__)

_MAX_ERROR_BODY_BYTES = 16_384
# A JSON answer (a model list, a token count, a whole completion) is read at most this far:
# a server that sends more is refused before its body costs memory or event-loop time.
MAX_BODY_BYTES = 8 * 1024 * 1024
_PARSE_IN_THREAD_BYTES = 256 * 1024  # parsing more than this would hold up the event loop


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
