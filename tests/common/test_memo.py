"""Values kept in memory for a few seconds (server settings, persona names)."""

from __future__ import annotations

import asyncio

import pytest

from bot.common.memo import ExpiringMemo
from bot.errors import PermissionDenied
from bot.members.personas import PersonaService
from bot.policy import OPERATOR, Caller
from bot.store import Database
from tests.support.clock import ManualClock


async def test_a_value_is_read_once_until_it_runs_out() -> None:
    clock, reads = ManualClock(), []
    memo: ExpiringMemo[str, int] = ExpiringMemo(5.0, clock=clock)

    async def read() -> int:
        reads.append(1)
        return len(reads)

    assert [await memo.get("a", read) for _ in range(3)] == [1, 1, 1]
    clock.now += 5.1
    assert await memo.get("a", read) == 2


async def test_a_read_that_overlaps_a_change_is_not_kept() -> None:
    memo: ExpiringMemo[str, str] = ExpiringMemo(5.0)
    reading, changed = asyncio.Event(), asyncio.Event()

    async def slow_old_read() -> str:
        reading.set()
        await asyncio.wait_for(changed.wait(), 5)
        return "old"

    task = asyncio.create_task(memo.get("a", slow_old_read))
    await asyncio.wait_for(reading.wait(), 5)
    memo.forget("a")  # the change happens while the read is on its way
    changed.set()
    assert await task == "old"

    async def new_read() -> str:
        return "new"

    assert await memo.get("a", new_read) == "new"


async def test_the_memory_is_bounded() -> None:
    memo: ExpiringMemo[int, int] = ExpiringMemo(5.0, size=3)
    for key in range(10):
        memo.put(key, key)
    assert len(memo._values) <= 3


async def test_a_persona_set_here_signs_the_next_message_at_once(database: Database) -> None:
    clock = ManualClock()
    here, elsewhere = PersonaService(database, clock=clock), PersonaService(database)
    assert await here.speaker_name(1, 7, "bob_display") == "bob_display"
    await here.set(1, 7, "Sir Robert", caller=OPERATOR)
    assert await here.speaker_name(1, 7, "bob_display") == "Sir Robert"
    await elsewhere.clear(1, 7, caller=OPERATOR)  # another process
    assert await here.speaker_name(1, 7, "bob_display") == "Sir Robert"
    clock.now += PersonaService.CACHE_SECONDS + 0.1
    assert await here.speaker_name(1, 7, "bob_display") == "bob_display"


async def test_a_persona_is_set_and_cleared_by_its_member_alone(database: Database) -> None:
    personas = PersonaService(database)
    bob = Caller(user_id=7, display_name="Bob")
    await personas.set(1, 7, "Sir Robert", caller=bob)
    with pytest.raises(PermissionDenied):
        await personas.set(1, 7, "Lord Robert", caller=Caller(user_id=8, display_name="Eve"))
    with pytest.raises(PermissionDenied):
        await personas.clear(1, 7, caller=Caller(user_id=8, display_name="Eve", is_admin=True))
    assert await personas.clear(1, 7, caller=bob)
