"""Faults with the real bot against the local Discord: a backend that refuses or dies
mid-stream, and Discord answering 5xx or 429 to our own webhook sends and streaming edits."""

# Polling helpers below are always wrapped in asyncio.wait_for: every wait is bounded.
# ruff: noqa: ASYNC110

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.app import Core
from bot.store import Database
from bot.values import Role
from tests.cogs.harness import World, galatea, is_character_message, wait_for_reply
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.discord_emulator import DiscordEmulator, StoredMessage
from tests.support.failing_backend import dying_backend, refusing_backend
from tests.support.recording_backend import RecordingBackend

WEBHOOK_POST = r"^/webhooks/\d+/[^/]+$"
WEBHOOK_EDIT = r"^/webhooks/\d+/[^/]+/messages/\d+$"


async def _linked(core: Core, world: World, reply: StoredMessage) -> bool:
    view = await core.engine.active(world.channel.id)
    assert view is not None
    stored = (await core.engine.history(view.session.id))[-1]
    return stored.content == reply.content and stored.discord_message_id == reply.id


async def _until_async(condition: Callable[[], Awaitable[bool]]) -> None:
    while not await condition():
        await asyncio.sleep(0.02)


def is_warning(message: StoredMessage) -> bool:
    return message.webhook_id is None and message.content.startswith("⚠️")


async def history(core: Core, channel_id: int) -> list[tuple[Role, str]]:
    view = await core.engine.active(channel_id)
    assert view is not None
    return [(m.role, m.content) for m in await core.engine.history(view.session.id)]


async def test_a_refusing_backend_is_told_to_the_channel_and_the_next_message_works(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = refusing_backend(replies=["Fine now."])
    async with galatea(emu, database, backend) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Are you there?")
        warning = await emu.wait_for_message(world.channel, is_warning)
        assert "not reachable" in warning.content
        await emu.send_message(world.channel, world.alice, "Hello again.")
        reply = await wait_for_reply(emu, world.channel, "Aqua")
        assert reply.content == "Fine now."
        assert await history(bot.core, world.channel.id) == [
            (Role.HUMAN, "Are you there?"),
            (Role.HUMAN, "Hello again."),
            (Role.CHARACTER, "Fine now."),
        ]


async def test_a_backend_dying_mid_stream_removes_the_partial_message(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = dying_backend(
        pieces_first=3, replies=["one two three four five six", "Fine now."], delay=0.05
    )
    async with galatea(emu, database, backend) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Are you there?")
        warning = await emu.wait_for_message(world.channel, is_warning)
        assert "something went wrong" in warning.content and "error " in warning.content
        # The partial text was posted while streaming, then taken away.
        assert emu.requests_matching("POST", WEBHOOK_POST)
        assert emu.requests_matching("DELETE", WEBHOOK_EDIT)
        assert not [m for m in emu.messages_in(world.channel) if is_character_message("Aqua")(m)]
        assert await history(bot.core, world.channel.id) == [(Role.HUMAN, "Are you there?")]

        await emu.send_message(world.channel, world.alice, "Hello again.")
        reply = await wait_for_reply(emu, world.channel, "Aqua")
        assert reply.content == "Fine now."


async def test_a_5xx_on_the_streaming_edit_is_retried_and_the_reply_delivered(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Still streaming along."], delay=0.05)
    async with galatea(emu, database, backend) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        emu.fail_next("PATCH", WEBHOOK_EDIT, status=502)
        await emu.send_message(world.channel, world.alice, "Talk to me.")
        reply = await wait_for_reply(emu, world.channel, "Aqua", timeout=15)
        assert reply.content == "Still streaming along."
        assert any(r.injected_fault for r in emu.requests_matching("PATCH", WEBHOOK_EDIT))
        # The history links the reply to the Discord message it was shown in.
        await asyncio.wait_for(_until_async(lambda: _linked(bot.core, world, reply)), 5)


async def test_a_5xx_on_the_webhook_send_is_retried_and_the_reply_delivered(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Here I am."])
    async with galatea(emu, database, backend, STREAM_REPLIES=False) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        emu.fail_next("POST", WEBHOOK_POST, status=503)
        await emu.send_message(world.channel, world.alice, "Hello?")
        reply = await wait_for_reply(emu, world.channel, "Aqua", timeout=15)
        assert reply.content == "Here I am."
        assert await history(bot.core, world.channel.id) == [
            (Role.HUMAN, "Hello?"),
            (Role.CHARACTER, "Here I am."),
        ]


async def test_a_webhook_send_that_keeps_failing_leaves_no_unseen_reply_in_history(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Never seen.", "Seen."])
    async with galatea(emu, database, backend, STREAM_REPLIES=False) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        # A Cloudflare-style 429 (no Via header): discord.py raises at once instead of waiting.
        emu.fail_next("POST", WEBHOOK_POST, status=429, via=False)
        await emu.send_message(world.channel, world.alice, "Hello?")
        warning = await emu.wait_for_message(world.channel, is_warning)
        assert "something went wrong" in warning.content
        assert await history(bot.core, world.channel.id) == [(Role.HUMAN, "Hello?")]

        await emu.send_message(world.channel, world.alice, "Once more.")
        reply = await wait_for_reply(emu, world.channel, "Aqua")
        assert reply.content == "Seen."
        assert await history(bot.core, world.channel.id) == [
            (Role.HUMAN, "Hello?"),
            (Role.HUMAN, "Once more."),
            (Role.CHARACTER, "Seen."),
        ]


async def test_a_429_on_the_streaming_edit_is_waited_out(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Patience is a virtue."], delay=0.05)
    async with galatea(emu, database, backend):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        emu.fail_next("PATCH", WEBHOOK_EDIT, status=429, retry_after=0.2, times=2)
        await emu.send_message(world.channel, world.alice, "Go on.")
        reply = await wait_for_reply(emu, world.channel, "Aqua", timeout=15)
    assert reply.content == "Patience is a virtue."
    assert any(r.injected_fault for r in emu.requests_matching("PATCH", WEBHOOK_EDIT))


async def test_the_channel_reply_limit_keeps_extra_messages_without_replies(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Answer."])
    async with galatea(emu, database, backend, REPLIES_PER_CHANNEL_PER_MINUTE=1) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "First.")
        await wait_for_reply(emu, world.channel, "Aqua")
        await emu.send_message(world.channel, world.bob, "Second.")
        await emu.send_message(world.channel, world.carol, "Third.")

        async def both_stored() -> bool:
            texts = [text for _, text in await history(bot.core, world.channel.id)]
            return texts[-2:] == ["Second.", "Third."]

        await asyncio.wait_for(_until_async(both_stored), 5)
        await asyncio.sleep(0.3)
    assert len(backend.calls) == 1
