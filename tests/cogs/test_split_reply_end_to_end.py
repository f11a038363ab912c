"""A reply split over several Discord messages is one unit for every button, before and after
a restart: regenerate and browse replace all of it, delete removes all of it."""

from __future__ import annotations

from bot.store import Database
from testkit.discord_emulator import DiscordEmulator, StoredMessage
from testkit.harness import World, galatea, is_character_message, wait_for_reply
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.support.recording_backend import RecordingBackend
from tests.support.waiting import until

LONG = " ".join(f"Sentence number {i} is here." for i in range(90))  # ~2,400: two messages
SHORT = "A short answer."


def shown(emu: DiscordEmulator, world: World) -> list[StoredMessage]:
    return [m for m in emu.messages_in(world.channel) if is_character_message("Aqua")(m)]


async def long_reply(emu: DiscordEmulator, world: World) -> tuple[list[StoredMessage], int]:
    await create_aqua(emu, world, greeting="")
    await start_session(emu, world)
    await emu.send_message(world.channel, world.bob, "Tell me everything.")
    await wait_for_reply(emu, world.channel, "Aqua", timeout=15)
    pieces = shown(emu, world)
    assert len(pieces) == 2 and " ".join(p.content for p in pieces) == LONG
    session = pieces[-1]["components"][0]["components"][0]["custom_id"].rsplit(":", 1)[1]
    return pieces, int(session)


async def test_regenerating_a_split_reply_replaces_all_its_messages(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=[LONG, SHORT])
    async with galatea(emu, database, backend, MAX_NEW_TOKENS=1024) as bot:
        pieces, session = await long_reply(emu, world)
        click = await emu.click_button(pieces[-1], f"galatea:reply:regen:{session}", world.bob)
        await click.response()
        await until(lambda: [m.content for m in shown(emu, world)] == [SHORT], timeout=10)
        back = await emu.click_button(
            emu.world.messages[pieces[0].id], f"galatea:reply:prev:{session}", world.bob
        )
        await back.response()
        await until(lambda: " ".join(m.content for m in shown(emu, world)) == LONG, timeout=10)

        async def stored() -> bool:
            latest = (await bot.core.engine.history.recent(session, limit=1))[-1]
            return latest.content == LONG and len(latest.discord_ids) == 2

        await until(stored, timeout=5)


async def test_deleting_a_split_reply_removes_all_its_messages(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend(replies=[LONG]), MAX_NEW_TOKENS=1024):
        pieces, session = await long_reply(emu, world)
        click = await emu.click_button(pieces[-1], f"galatea:reply:del:{session}", world.bob)
        await click.response()
        await until(lambda: not shown(emu, world), timeout=10)


async def test_after_a_restart_the_buttons_on_a_split_reply_still_work(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=[LONG, SHORT])
    async with galatea(emu, database, backend, MAX_NEW_TOKENS=1024) as bot:
        pieces, session = await long_reply(emu, world)

        async def stored() -> bool:
            return (
                len((await bot.core.engine.history.recent(session, limit=1))[-1].discord_ids) == 2
            )

        await until(stored, timeout=5)
    async with galatea(emu, database, backend, MAX_NEW_TOKENS=1024):
        click = await emu.click_button(pieces[-1], f"galatea:reply:regen:{session}", world.bob)
        await click.response()
        await until(lambda: [m.content for m in shown(emu, world)] == [SHORT], timeout=10)
    assert not any("latest reply" in m.content for m in emu.world.messages.values() if m.ephemeral)
