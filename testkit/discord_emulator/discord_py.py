"""Pointing an unmodified discord.py at the emulator (the same two globals the bot sets).

discord.py reads its REST base from ``discord.http.Route.BASE`` and, for a non-sharded
client, connects to ``DiscordWebSocket.DEFAULT_GATEWAY``; both are process-wide, so tests
should restore them afterwards (:func:`discord_py_globals_restored`).
"""

# Explicit `timeout=` parameters are the point of these test helpers: every wait is bounded.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl


class _Target(Protocol):
    base_url: str
    token: str


async def point_discord_py_at(target: _Target, *, timeout: float = 5.0) -> str:
    """Set ``Route.BASE``, ask ``GET /gateway/bot`` for the URL and set ``DEFAULT_GATEWAY``.

    Returns the gateway URL. Equivalent to what the real bot does from its settings.
    """
    api = f"{target.base_url}/api/v10"
    discord.http.Route.BASE = api
    headers = {"Authorization": f"Bot {target.token}"}
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.get(f"{api}/gateway/bot", headers=headers) as response,
    ):
        response.raise_for_status()
        url = (await response.json())["url"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    return url


@contextlib.contextmanager
def discord_py_globals_restored() -> Iterator[None]:
    """Put discord.py's REST base and default gateway back to what they were."""
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    try:
        yield
    finally:
        discord.http.Route.BASE = base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


@contextlib.asynccontextmanager
async def running_bot(
    client: discord.Client, target: _Target, *, timeout: float = 10.0
) -> AsyncIterator[discord.Client]:
    """Point discord.py at ``target``, start ``client`` and wait until it is ready.

    On exit the client is closed and discord.py's globals restored, all with bounded waits.
    A start-up failure (bad token, disallowed intents) is raised instead of hanging.
    """
    with discord_py_globals_restored():
        await point_discord_py_at(target, timeout=timeout)
        runner = asyncio.create_task(client.start(target.token), name="emulated-bot")
        ready = asyncio.create_task(client.wait_until_ready())
        try:
            done, _ = await asyncio.wait(
                {runner, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if runner in done:
                runner.result()  # raises the start-up error
                raise RuntimeError("the client stopped before becoming ready")
            if ready not in done:
                raise TimeoutError(f"client not ready after {timeout}s")
            yield client
        finally:
            ready.cancel()
            await asyncio.wait_for(client.close(), timeout)
            if not runner.done():
                runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(runner, timeout)
