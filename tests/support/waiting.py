"""Waiting until something holds, always within a bound."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

DEFAULT_TIMEOUT = 10.0


async def until(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the bound is the point of this helper
    every: float = 0.01,
) -> None:
    """Poll ``condition`` (plain or async) until it is true; TimeoutError after ``timeout``."""

    async def poll() -> None:
        while True:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(every)

    await asyncio.wait_for(poll(), timeout)
