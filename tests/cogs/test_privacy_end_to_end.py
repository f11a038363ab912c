"""/forget me and the retention task with the real bot against the local Discord."""

# Polling helpers below are always wrapped in asyncio.wait_for: every wait is bounded.

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bot.store import Database
from bot.store.models import MessageRow
from testkit.discord_emulator import DiscordEmulator
from testkit.harness import World, galatea, wait_for_reply
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.support.recording_backend import RecordingBackend
from tests.support.waiting import until


async def test_forget_me_erases_the_callers_messages_and_reports_it_privately(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend(replies=["Noted."])) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.bob, "My secret is 42.")
        first = await wait_for_reply(emu, world.channel, "Aqua")
        await emu.send_message(world.channel, world.alice, "Hello.")
        await wait_for_reply(emu, world.channel, "Aqua", after=first.id)

        record = await emu.invoke_command("forget me", {}, user=world.bob, channel=world.channel)
        answer = await record.response()
        assert answer["data"]["flags"] & 64
        assert "1 of your messages" in answer["data"]["content"]
        view = await bot.core.engine.sessions.active(world.channel.id)
        assert view is not None
        texts = [m.content for m in await bot.core.engine.history.recent(view.session.id)]
        assert "My secret is 42." not in texts and "Hello." in texts


async def test_forget_me_with_characters_asks_first_then_deletes_them(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        await create_aqua(emu, world, greeting="")  # Alice's character
        asked = await emu.invoke_command(
            "forget me", {"characters": True}, user=world.alice, channel=world.channel
        )
        await asked.response()
        question = asked.original
        assert question is not None and "**Aqua**" in question["content"]
        assert await bot.core.characters.count(world.guild.id) == 1  # nothing yet
        confirm = next(
            c["custom_id"]
            for row in question["components"]
            for c in row["components"]
            if c["label"].startswith("Erase")
        )
        await (await emu.click_button(question, confirm, world.alice)).response()
        await asked.wait_until(lambda r: "Done" in (r.original or {}).get("content", ""))
        assert "1 of your characters" in asked.original["content"]  # type: ignore[index]
        assert await bot.core.characters.count(world.guild.id) == 0


async def test_old_messages_are_pruned_at_start_up(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend(replies=["Noted."])) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Long ago.")
        await wait_for_reply(emu, world.channel, "Aqua")
        session = (await bot.core.engine.sessions.active(world.channel.id)).session.id  # type: ignore[union-attr]
    async with database.write() as uow:
        await uow.session.execute(
            update(MessageRow).values(created_at=datetime.now(UTC) - timedelta(days=10))
        )
    async with galatea(emu, database, RecordingBackend(), HISTORY_RETENTION_DAYS=7) as bot:

        async def pruned() -> bool:
            return await bot.core.engine.history.recent(session) == []

        await asyncio.wait_for(until(pruned), 5)
