"""A fair queue in front of a backend: one per loaded model, shared by every channel.

Slots: a backend runs ``capabilities.max_concurrency`` generations at once (1 for a local
model, more for HTTP servers that batch). Waiting turns are served round-robin by channel,
then by user within a channel, so one busy channel or one talkative person cannot starve the
rest. A server's queue is bounded (backpressure: a polite "busy" instead of an endless wait).

The caller holds a turn while it renders its prompt and streams the reply, so a prompt is
always rendered from the newest history, however long the turn waited.

Background work (a memory summary, bot/memory/) gets a turn only when a slot is free and no
member's turn waits, and gives it back as soon as one starts waiting: ``background_turn``
hands its holder an event that says so. At most one background turn runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.errors import Busy, GenerationTimeout


class Deferred(Exception):
    """No background turn came within its patience: members kept the model busy."""


log = logging.getLogger(__name__)

OnLongWait = Callable[[int], Awaitable[None]]


@dataclass(eq=False)
class _Waiter:
    guild_id: int
    channel_id: int
    user_id: int
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    queued_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class QueueStats:
    running: int
    waiting: int
    longest_wait_seconds: float  # of those waiting now
    # Since start: the longest any member waited, and how often (and how slowly at most) a
    # background job handed the model back to one.
    longest_wait_ever: float = 0.0
    background_yields: int = 0
    longest_background_yield: float = 0.0


class Scheduler:
    def __init__(
        self,
        *,
        slots: int = 1,
        max_waiting_per_guild: int = 16,
        wait_timeout: float = 300.0,
        long_wait_after: float = 3.0,
    ) -> None:
        self.slots = max(1, slots)
        self._max_waiting = max_waiting_per_guild
        self._wait_timeout = wait_timeout
        self._long_wait_after = long_wait_after
        self._running = 0
        # channel -> user -> waiters; both levels rotate for round-robin.
        self._channels: OrderedDict[int, OrderedDict[int, deque[_Waiter]]] = OrderedDict()
        self.longest_wait = 0.0
        self._background: asyncio.Event | None = None  # set: give the slot back now
        self._changed = asyncio.Event()  # a slot was released or a waiter served
        self._preempted_at = 0.0
        # How long background work took to give its slot back to a waiting member (bench/).
        self.background_yields = 0
        self.longest_background_yield = 0.0

    @asynccontextmanager
    async def turn(
        self,
        *,
        guild_id: int,
        channel_id: int,
        user_id: int,
        on_long_wait: OnLongWait | None = None,
    ) -> AsyncIterator[None]:
        """Wait for a fair turn on the model and hold it for the body of the ``with``."""
        if self._running < self.slots and not self._channels:
            self._running += 1  # free slot and nobody waiting: go straight in
        else:
            await self._wait(guild_id, channel_id, user_id, on_long_wait)
        try:
            yield
        finally:
            self._running -= 1
            self._dispatch()

    @asynccontextmanager
    async def background_turn(self, *, patience: float) -> AsyncIterator[asyncio.Event]:
        """A turn for work nobody waits on, taken only while no member's turn waits.

        The event yielded is set the moment a member's turn starts waiting: the holder stops
        (cancels its generation) and leaves the ``with``. Raises ``Deferred`` when no such
        moment came within ``patience`` seconds."""
        deadline = time.monotonic() + patience
        while self._running >= self.slots or self._channels or self._background is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Deferred()
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                raise Deferred() from None
        preempt = self._background = asyncio.Event()
        self._running += 1
        try:
            yield preempt
        finally:
            if preempt.is_set():
                took = time.monotonic() - self._preempted_at
                self.background_yields += 1
                self.longest_background_yield = max(self.longest_background_yield, took)
            self._background = None
            self._running -= 1
            self._dispatch()

    async def _wait(
        self, guild_id: int, channel_id: int, user_id: int, on_long_wait: OnLongWait | None
    ) -> None:
        if self._waiting_in_guild(guild_id) >= self._max_waiting:
            raise Busy(
                "So many replies are waiting on this server that this one was turned away. "
                "Please try again in a minute."
            )
        waiter = _Waiter(guild_id, channel_id, user_id)
        users = self._channels.setdefault(channel_id, OrderedDict())
        users.setdefault(user_id, deque()).append(waiter)
        if self._background is not None and not self._background.is_set():
            self._preempted_at = time.monotonic()
            self._background.set()  # a member waits: background work gives its slot back
        self._dispatch()
        notice = None
        if on_long_wait is not None and not waiter.granted.done():
            notice = asyncio.create_task(self._notice(waiter, on_long_wait))
        try:
            await asyncio.wait_for(asyncio.shield(waiter.granted), self._wait_timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.granted.done():
                self._running -= 1  # granted just as we gave up: hand the slot on
                self._dispatch()
            else:
                waiter.granted.cancel()
                self._remove(waiter)
            if isinstance(exc, TimeoutError):
                raise GenerationTimeout(
                    "The model is too busy to answer right now. Please try again in a few minutes."
                ) from None
            raise
        finally:
            if notice is not None:
                notice.cancel()
        self.longest_wait = max(self.longest_wait, time.monotonic() - waiter.queued_at)

    async def _notice(self, waiter: _Waiter, on_long_wait: OnLongWait) -> None:
        await asyncio.sleep(self._long_wait_after)
        position = self.position(waiter.channel_id)
        if position is not None and not waiter.granted.done():
            await on_long_wait(position)

    def _dispatch(self) -> None:
        self._changed.set()
        while self._running < self.slots and self._channels:
            channel_id, users = next(iter(self._channels.items()))
            self._channels.move_to_end(channel_id)  # the next turn goes to another channel
            user_id, waiters = next(iter(users.items()))
            users.move_to_end(user_id)  # and within this channel, to another user
            waiter = waiters.popleft()
            if not waiters:
                del users[user_id]
            if not users:
                del self._channels[channel_id]
            if waiter.granted.done():  # cancelled meanwhile
                continue
            self._running += 1
            waiter.granted.set_result(None)

    def _remove(self, waiter: _Waiter) -> None:
        users = self._channels.get(waiter.channel_id)
        if users is None:
            return
        waiters = users.get(waiter.user_id)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del users[waiter.user_id]
        if not users:
            del self._channels[waiter.channel_id]

    def _waiting_in_guild(self, guild_id: int) -> int:
        return sum(
            1
            for users in self._channels.values()
            for waiters in users.values()
            for w in waiters
            if w.guild_id == guild_id
        )

    def order(self) -> list[int]:
        """Channels in the order their next turn would be served (for positions)."""
        simulated = [
            (c, sum(len(w) for w in users.values())) for c, users in self._channels.items()
        ]
        order: list[int] = []
        while simulated:
            next_round = []
            for channel, count in simulated:
                order.append(channel)
                if count > 1:
                    next_round.append((channel, count - 1))
            simulated = next_round
        return order

    def position(self, channel_id: int) -> int | None:
        """1-based place of this channel's next waiting turn, or None if it is not waiting."""
        order = self.order()
        return order.index(channel_id) + 1 if channel_id in order else None

    def stats(self) -> QueueStats:
        now = time.monotonic()
        waits = [
            now - w.queued_at
            for users in self._channels.values()
            for waiters in users.values()
            for w in waiters
        ]
        return QueueStats(
            self._running,
            len(waits),
            max(waits, default=0.0),
            self.longest_wait,
            self.background_yields,
            self.longest_background_yield,
        )
