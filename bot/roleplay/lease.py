"""Channel leases: one process answers a channel, however many receive its messages.

Shards split guilds between processes, but two processes can still get the same messages: two
copies of one shard during a rolling deploy, or a misconfiguration. Before it takes a message,
a process claims the channel's lease (a row in ``channel_leases``, see bot/store/leases.py);
a process that does not hold it stores the message (once: a unique index on the Discord
message id) but leaves the answer to the holder. Only channels with a roleplay are leased.

Cost: the expiry is cached in memory and renewed only when less than half the TTL remains, so
most messages cost a dictionary look-up, and a busy channel one database write per TTL/2.
A process that does not hold a channel pays a write per message there (a rolling deploy).
Leases compare wall-clock times between processes: hosts need synchronised clocks (NTP), as
any lease does; a skew under half the TTL is harmless.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.store import Database, UnitOfWork

log = logging.getLogger(__name__)


def process_holder_id() -> str:
    """A holder id unique to this process, readable in logs: host, pid and a random part."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class ChannelLeases:
    """This process's leases on channels. One per process (built with the core)."""

    def __init__(self, database: Database, ttl: float, *, holder: str | None = None) -> None:
        self._db = database
        self.ttl = ttl
        self.holder = holder or process_holder_id()
        self._held: dict[int, float] = {}  # channel id -> monotonic time our lease runs out

    def holds(self, channel_id: int) -> bool:
        """Whether this process holds the channel's lease now (from memory, no database)."""
        return self._held.get(channel_id, 0.0) > time.monotonic()

    async def claim(self, channel_id: int, uow: UnitOfWork | None = None) -> bool:
        """Take or keep the channel's lease; False while another process holds it.

        ``uow``: a write unit of work to renew it in (one message, one unit); when that unit
        does not commit, call ``forget``."""
        runs_out = self._held.get(channel_id)
        if runs_out is not None and runs_out - time.monotonic() > self.ttl / 2:
            return True
        return await self._acquire(channel_id, uow)

    def forget(self, channel_id: int) -> None:
        """A claim made in a unit of work that did not commit: not held after all."""
        self._held.pop(channel_id, None)

    async def _acquire(self, channel_id: int, uow: UnitOfWork | None = None) -> bool:
        # Measured before the write, so the cached expiry is never later than the stored one.
        started = time.monotonic()
        now = datetime.now(UTC)
        until = now + timedelta(seconds=self.ttl)
        if uow is not None:
            won = await uow.leases.acquire(channel_id, self.holder, now=now, until=until)
        else:
            async with self._db.write() as own:
                won = await own.leases.acquire(channel_id, self.holder, now=now, until=until)
        had = channel_id in self._held
        if won:
            self._held[channel_id] = started + self.ttl
            if not had:
                log.debug("Channel %d: lease taken by %s", channel_id, self.holder)
        else:
            self._held.pop(channel_id, None)
            if had:
                log.warning("Channel %d: lease lost to another process", channel_id)
        return won

    async def keep_alive(self, busy: Callable[[int], bool]) -> None:
        """Renew the leases of channels where a reply is in progress (until cancelled), so a
        long generation keeps its channel; forget the others once they run out."""
        while True:
            await asyncio.sleep(self.ttl / 4)
            for channel_id in list(self._held):
                if busy(channel_id):
                    try:
                        await self.claim(channel_id)
                    except Exception:
                        log.exception("Channel %d: renewing the lease failed", channel_id)
                elif not self.holds(channel_id):
                    self._held.pop(channel_id, None)

    async def release_all(self) -> int:
        """Give back every lease (clean shutdown): another process takes over at once."""
        self._held.clear()
        async with self._db.write() as uow:
            released = await uow.leases.release(self.holder)
        if released:
            log.info("Released %d channel leases", released)
        return released
