"""Recording of every REST request, plus the bounded waiting primitive used everywhere."""

# Explicit `timeout=` parameters are the point of these test helpers: every wait is bounded.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from testkit.discord_emulator.messages import Upload

T = TypeVar("T")

# Headers worth keeping for assertions (names as discord.py sends them).
INTERESTING_HEADERS = ("Authorization", "Content-Type", "User-Agent", "X-Audit-Log-Reason")


class Waiters(Generic[T]):
    """Futures resolved by the first item (already seen or notified later) matching a predicate."""

    def __init__(self) -> None:
        self._pending: list[tuple[Callable[[T], bool], asyncio.Future[T]]] = []

    def notify(self, item: T) -> None:
        for entry in list(self._pending):
            predicate, future = entry
            if future.done():
                continue
            try:
                if predicate(item):
                    future.set_result(item)
            except Exception as exc:  # a broken predicate should fail the waiting test
                future.set_exception(exc)

    async def wait(
        self, existing: Iterable[T], predicate: Callable[[T], bool], timeout: float, what: str
    ) -> T:
        for item in existing:
            if predicate(item):
                return item
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._pending.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}") from None
        finally:
            self._pending.remove(entry)


@dataclass
class RecordedRequest:
    """One HTTP request the emulator received (``path`` is relative to ``/api/v10``)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    files: list[Upload] = field(default_factory=list)
    timestamp: float = field(default_factory=time.monotonic)
    status: int | None = None
    injected_fault: bool = False

    def matches(self, method: str | None = None, path: str | None = None) -> bool:
        """``path`` is a regular expression searched in the path ("/webhooks/" matches all)."""
        if method is not None and self.method != method.upper():
            return False
        return path is None or re.search(path, self.path) is not None


class Recorder:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._waiters: Waiters[RecordedRequest] = Waiters()

    def add(self, request: RecordedRequest) -> None:
        self.requests.append(request)

    def completed(self, request: RecordedRequest) -> None:
        """Called once the response status is known; wakes waiters."""
        self._waiters.notify(request)

    def matching(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.matches(method, path)]

    async def wait_for(
        self, predicate: Callable[[RecordedRequest], bool], timeout: float
    ) -> RecordedRequest:
        done = [r for r in self.requests if r.status is not None]
        return await self._waiters.wait(done, predicate, timeout, "a matching request")
