"""Server settings kept in memory: changes here show at once, other processes' within a bound."""

from __future__ import annotations

from bot.guilds.config import GuildConfigService
from bot.store import Database
from tests.support.clock import ManualClock


async def test_a_change_made_here_is_seen_at_once(database: Database) -> None:
    config = GuildConfigService(database)
    assert (await config.get(7)).ooc_prefix != "!!"
    await config.update(7, ooc_prefix="!!")
    assert (await config.get(7)).ooc_prefix == "!!"


async def test_another_process_change_is_seen_once_the_memory_runs_out(database: Database) -> None:
    clock = ManualClock()
    here, elsewhere = GuildConfigService(database, clock=clock), GuildConfigService(database)
    before = (await here.get(7)).ooc_prefix
    await elsewhere.update(7, ooc_prefix="%%")
    assert (await here.get(7)).ooc_prefix == before  # still what this process read
    clock.now += GuildConfigService.CACHE_SECONDS + 0.1
    assert (await here.get(7)).ooc_prefix == "%%"


async def test_reads_come_from_memory_until_it_runs_out(database: Database) -> None:
    clock = ManualClock()
    config = GuildConfigService(database, clock=clock)
    first = await config.get(7)
    async with database.write() as uow:  # behind the service's back
        await uow.guilds.update(7, {"ooc_prefix": "##"})
    assert await config.get(7) == first
    clock.now += GuildConfigService.CACHE_SECONDS + 0.1
    assert (await config.get(7)).ooc_prefix == "##"
