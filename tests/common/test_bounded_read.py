"""The one bounded HTTP body read: a real aiohttp server on 127.0.0.1 sends the bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.common.bounded_read import BodyTooLarge, read_at_most

LIMIT = 10_000


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * int(request.query["n"]))

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()  # no Content-Length: only reading tells the size
        await response.prepare(request)
        for _ in range(int(request.query["n"]) // 1000):
            await response.write(b"y" * 1000)
        return response

    app = web.Application()
    app.router.add_get("/sized", sized)
    app.router.add_get("/chunked", chunked)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def read(url: str) -> bytes:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        return await read_at_most(response, LIMIT)


async def test_a_body_within_the_limit_is_read_whole(base_url: str) -> None:
    assert await read(f"{base_url}/sized?n={LIMIT}") == b"x" * LIMIT
    assert await read(f"{base_url}/chunked?n={LIMIT}") == b"y" * LIMIT


async def test_a_declared_length_over_the_limit_is_refused_before_reading(base_url: str) -> None:
    with pytest.raises(BodyTooLarge) as caught:
        await read(f"{base_url}/sized?n={LIMIT + 1}")
    assert caught.value.declared == LIMIT + 1


async def test_a_stream_past_the_limit_is_refused_while_reading(base_url: str) -> None:
    with pytest.raises(BodyTooLarge) as caught:
        await read(f"{base_url}/chunked?n={LIMIT * 100}")
    assert caught.value.declared is None
