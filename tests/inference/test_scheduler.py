"""The fair queue in front of a model."""

# Every wait here is bounded with asyncio.wait_for.
# ruff: noqa: ASYNC110

from __future__ import annotations

import asyncio

import pytest

from bot.errors import Busy, GenerationTimeout
from bot.inference.scheduler import Scheduler


async def _run(
    scheduler: Scheduler, log: list[str], name: str, channel: int, user: int, hold: asyncio.Event
) -> None:
    async with scheduler.turn(guild_id=1, channel_id=channel, user_id=user):
        log.append(name)
        await asyncio.wait_for(hold.wait(), 5)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_turns_rotate_across_channels_then_users() -> None:
    scheduler = Scheduler(slots=1)
    order: list[str] = []
    gates: dict[str, asyncio.Event] = {}
    tasks = []

    async def job(name: str, channel: int, user: int) -> None:
        gates[name] = asyncio.Event()
        await _run(scheduler, order, name, channel, user, gates[name])

    # Channel 1 is busy: three queued turns from user 10 and one from user 11.
    for name, channel, user in [
        ("first", 1, 10),
        ("c1-u10-a", 1, 10),
        ("c1-u10-b", 1, 10),
        ("c1-u11", 1, 11),
        ("c2", 2, 20),
        ("c3", 3, 30),
    ]:
        tasks.append(asyncio.create_task(job(name, channel, user)))
        await _settle()
    while len(order) < 6:
        await _settle()
        gates[order[-1]].set()
        await asyncio.wait_for(_wait_len(order, min(len(order) + 1, 6)), 5)
    gates[order[-1]].set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    # After the running one: channel 1 (user 10), channel 2, channel 3, channel 1 (user 11
    # before user 10's second turn), then channel 1 again.
    assert order == ["first", "c1-u10-a", "c2", "c3", "c1-u11", "c1-u10-b"]


async def _wait_len(items: list[str], n: int) -> None:
    while len(items) < n:
        await asyncio.sleep(0.001)


async def test_queue_position_and_long_wait_notice() -> None:
    scheduler = Scheduler(slots=1, long_wait_after=0.05)
    hold = asyncio.Event()
    first = asyncio.create_task(_run(scheduler, [], "a", 1, 1, hold))
    await _settle()
    notices: list[int] = []

    async def on_wait(position: int) -> None:
        notices.append(position)

    async def waiting(channel: int) -> None:
        async with scheduler.turn(guild_id=1, channel_id=channel, user_id=2, on_long_wait=on_wait):
            pass

    second = asyncio.create_task(waiting(2))
    third = asyncio.create_task(waiting(3))
    await _settle()
    assert scheduler.position(2) == 1 and scheduler.position(3) == 2
    await asyncio.sleep(0.15)
    assert sorted(notices) == [1, 2]
    hold.set()
    await asyncio.wait_for(asyncio.gather(first, second, third), 5)
    assert scheduler.position(2) is None and scheduler.stats().waiting == 0


async def test_a_full_server_queue_is_refused_politely() -> None:
    scheduler = Scheduler(slots=1, max_waiting_per_guild=2)
    hold = asyncio.Event()
    tasks = [asyncio.create_task(_run(scheduler, [], str(i), i, i, hold)) for i in range(3)]
    await _settle()
    with pytest.raises(Busy, match="try again"):
        async with scheduler.turn(guild_id=1, channel_id=99, user_id=99):
            pass
    # Another server is not affected by this one's queue.
    other = asyncio.create_task(_other_guild(scheduler))
    await _settle()
    hold.set()
    await asyncio.wait_for(asyncio.gather(*tasks, other), 5)


async def _other_guild(scheduler: Scheduler) -> None:
    async with scheduler.turn(guild_id=2, channel_id=5, user_id=5):
        pass


async def test_waiting_too_long_is_a_clear_timeout_and_frees_the_place() -> None:
    scheduler = Scheduler(slots=1, wait_timeout=0.05)
    hold = asyncio.Event()
    first = asyncio.create_task(_run(scheduler, [], "a", 1, 1, hold))
    await _settle()
    with pytest.raises(GenerationTimeout, match="too busy"):
        async with scheduler.turn(guild_id=1, channel_id=2, user_id=2):
            pass
    assert scheduler.stats().waiting == 0
    hold.set()
    await asyncio.wait_for(first, 5)


async def test_cancelled_waiters_and_holders_give_their_place_back() -> None:
    scheduler = Scheduler(slots=1)
    hold = asyncio.Event()
    first = asyncio.create_task(_run(scheduler, [], "a", 1, 1, hold))
    await _settle()
    waiting = asyncio.create_task(_run(scheduler, [], "b", 2, 2, hold))
    await _settle()
    waiting.cancel()
    first.cancel()
    await asyncio.gather(first, waiting, return_exceptions=True)
    assert scheduler.stats() == scheduler.stats().__class__(0, 0, 0.0)
    async with scheduler.turn(guild_id=1, channel_id=3, user_id=3):
        pass  # the slot is free again


async def test_backends_that_batch_get_several_turns_at_once() -> None:
    scheduler = Scheduler(slots=3)
    hold = asyncio.Event()
    running: list[str] = []
    tasks = [asyncio.create_task(_run(scheduler, running, str(i), i, i, hold)) for i in range(5)]
    await _settle()
    assert len(running) == 3 and scheduler.stats().waiting == 2
    hold.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert len(running) == 5
