"""One channel message, one unit of work: the store's transactions are counted as the database
begins them (a real SQLite file), for a member's message and for the reply it draws."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import event

from bot.guilds.config import GuildConfigService
from bot.members.personas import PersonaService
from bot.policy import OPERATOR
from bot.roleplay.channel import ChannelRoleplay, Outcome
from bot.roleplay.lease import ChannelLeases
from bot.store import Database
from tests.roleplay.test_channel import PLACE, message, setup
from tests.support.recording_backend import RecordingBackend


@contextmanager
def units(database: Database) -> Iterator[list[str]]:
    """Every transaction begun meanwhile: "write" or "read"."""
    begun: list[str] = []

    def record(connection: Any) -> None:
        write = connection.get_execution_options().get("galatea_write", False)
        begun.append("write" if write else "read")

    event.listen(database.engine.sync_engine, "begin", record)
    try:
        yield begun
    finally:
        event.remove(database.engine.sync_engine, "begin", record)


async def channel(database: Database, lease_seconds: float) -> ChannelRoleplay:
    """The runtime as the bot builds it: personas and leases on."""
    _, engine, presenter = await setup(database, RecordingBackend(replies=["Splash."] * 10))
    return ChannelRoleplay(
        engine,
        GuildConfigService(database),
        lambda view: presenter,
        personas=PersonaService(database),
        leases=ChannelLeases(database, lease_seconds),
    )


async def test_a_message_in_a_roleplay_takes_one_unit_of_work(database: Database) -> None:
    replies = await channel(database, lease_seconds=60)
    with units(database) as first:
        assert await replies.handle(message("Hello!")) is Outcome.REPLY_SCHEDULED
    # The channel is new to this process: a read finds its roleplay, without the write lock.
    assert first == ["read", "write"]
    await asyncio.wait_for(replies.idle(), 5)
    with units(database) as later:
        assert await replies.handle(message("Again!")) is Outcome.REPLY_SCHEDULED
    assert later == ["write"]


async def test_the_lease_persona_and_replied_message_share_that_unit(database: Database) -> None:
    # A lease this short is renewed on every message: the renewal joins the message's unit.
    replies = await channel(database, lease_seconds=0.001)
    await replies.handle(message("Hello!"))
    await asyncio.wait_for(replies.idle(), 5)
    # no longer in memory:
    await PersonaService(database).set(PLACE.guild_id, 7, "Alicia", caller=OPERATOR)
    with units(database) as begun:
        outcome = await replies.handle(
            replace(message("About that..."), reply_to_message_id=123_456)
        )
    assert outcome is Outcome.REPLY_SCHEDULED
    assert begun == ["write"]


async def test_a_reply_reads_once_and_writes_once_with_no_unit_open_while_writing(
    database: Database,
) -> None:
    replies = await channel(database, lease_seconds=60)
    await replies.handle(message("Hello!"))
    await asyncio.wait_for(replies.idle(), 5)
    with units(database) as begun:
        await replies.handle(message("Tell me more."))
        await asyncio.wait_for(replies.idle(), 5)
    # The message's unit; then the prompt's read, the model (no unit open), the reply's write.
    assert begun == ["write", "read", "write"]


async def test_a_channel_without_a_roleplay_costs_one_read(database: Database) -> None:
    replies = await channel(database, lease_seconds=60)
    with units(database) as begun:
        elsewhere = replace(message("Hi"), place=replace(PLACE, channel_id=999))
        assert await replies.handle(elsewhere) is Outcome.NO_SESSION
    assert begun == ["read"]
