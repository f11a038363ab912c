"""A scriptable aiohttp server on 127.0.0.1 for the HTTP backend tests.

Each test registers handlers, starts the server on a random port and then inspects what the
server received (``requests``) and whether a client hung up (``disconnected``). Handlers are
cancelled when the client disconnects, so nothing outlives its test.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.inference.http.limits import RetryPolicy

# Retries without the production backoff, so retry tests stay fast.
FAST_RETRY = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.02)

Handler = Callable[[web.Request, "Received"], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None


class FakeServer:
    def __init__(self) -> None:
        self.app = web.Application()
        self.requests: list[Received] = []
        self.disconnected = asyncio.Event()
        self.got_request = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    def route(self, method: str, path: str, handler: Handler) -> None:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            body = json.loads(raw) if raw else None
            received = Received(request.method, request.path, dict(request.headers), body)
            self.requests.append(received)
            self.got_request.set()
            try:
                return await handler(request, received)
            except (asyncio.CancelledError, ConnectionResetError):
                self.disconnected.set()  # the client closed the connection mid-reply
                raise

        self.app.router.add_route(method, path, wrapper)

    def json(self, method: str, path: str, payload: Any, status: int = 200) -> None:
        """Answer ``path`` with a fixed JSON payload."""

        async def handler(request: web.Request, received: Received) -> web.StreamResponse:
            return web.json_response(payload, status=status)

        self.route(method, path, handler)

    def paths(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, handler_cancellation=True, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def stream_events(
    request: web.Request,
    chunks: Sequence[str | bytes],
    *,
    delay: float = 0.0,
    finish: bool = True,
    cut: bool = False,
) -> web.StreamResponse:
    """Send ``chunks`` as a text/event-stream body, one write each.

    ``cut`` drops the connection after the chunks instead of ending the body properly.
    """
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for chunk in chunks:
        await response.write(chunk.encode() if isinstance(chunk, str) else chunk)
        if delay:
            await asyncio.sleep(delay)
    if cut:
        assert request.transport is not None
        request.transport.abort()
        return response
    if finish:
        await response.write_eof()
    return response


def sse(data: Any, event: str | None = None) -> str:
    """One SSE event; ``data`` is JSON-encoded unless it is already a string."""
    text = data if isinstance(data, str) else json.dumps(data)
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {text}\n\n"


async def endless_stream(
    request: web.Request, make_chunk: Callable[[int], str], *, interval: float = 0.02
) -> web.StreamResponse:
    """Stream a chunk every ``interval`` until the client leaves (at most ~4 seconds)."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for index in range(200):
        await response.write(make_chunk(index).encode())
        await asyncio.sleep(interval)
    await response.write_eof()
    return response


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
