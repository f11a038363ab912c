"""A dedicated thread per loaded model, bridging blocking generation loops to asyncio.

ctransformers and llama.cpp objects are not thread-safe, and their calls block for seconds:
every call on one model goes through its own single worker thread, in order, and streamed
pieces come back to the event loop through a queue.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_DONE = object()

# A producer gets an ``emit`` callback and a cancel flag, and returns when finished or cancelled.
Producer = Callable[[Callable[[str], None], threading.Event], None]


class ModelWorker:
    """Runs every call for one model on one thread, in submission order."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking ``fn(*args)`` on the model thread and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def stream(self, producer: Producer) -> AsyncGenerator[str, None]:
        """Run ``producer`` on the model thread and yield what it emits.

        Closing this iterator or cancelling its consumer sets the cancel flag; the producer
        stops between two tokens and this waits for it, so the model is free for the next call.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancel = threading.Event()

        def emit(piece: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, piece)

        def run() -> None:
            try:
                producer(emit, cancel)
            except BaseException as exc:  # handed to the consumer, which re-raises it
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        future = loop.run_in_executor(self._executor, run)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            cancel.set()
            # Shielded: a cancelled consumer still waits for the thread to let go of the model.
            await asyncio.shield(future)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
