"""Faults with the real bot against the local Discord: a backend that refuses or dies
mid-stream, and Discord answering 5xx or 429 to our own webhook sends and streaming edits."""

# Polling helpers below are always wrapped in asyncio.wait_for: every wait is bounded.

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import discord
import discord.http
import discord.webhook.async_
import pytest

from bot.app import Core
from bot.inference.base import Backend
from bot.store import Database
from bot.values import Role
from cogs.client import GalateaBot
from testkit.discord_emulator import DiscordEmulator, StoredMessage
from testkit.harness import World, galatea, is_character_message, wait_for_reply
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.support.failing_backend import dying_backend, refusing_backend
from tests.support.recording_backend import RecordingBackend
from tests.support.waiting import until

WEBHOOK_POST = r"^/webhooks/\d+/[^/]+$"
WEBHOOK_EDIT = r"^/webhooks/\d+/[^/]+/messages/\d+$"


async def _linked(core: Core, world: World, reply: StoredMessage) -> bool:
    view = await core.engine.sessions.active(world.channel.id)
    assert view is not None
    stored = (await core.engine.history.recent(view.session.id))[-1]
    return stored.content == reply.content and stored.discord_message_id == reply.id


@asynccontextmanager
async def playing_aqua(
    emu: DiscordEmulator, world: World, database: Database, backend: Backend, **settings: Any
) -> AsyncIterator[GalateaBot]:
    """The bot, with Aqua (no greeting) in a session in the world's channel."""
    async with galatea(emu, database, backend, **settings) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        yield bot


def is_warning(message: StoredMessage) -> bool:
    return message.webhook_id is None and message.content.startswith("⚠️")


async def history(core: Core, channel_id: int) -> list[tuple[Role, str]]:
    view = await core.engine.sessions.active(channel_id)
    assert view is not None
    return [(m.role, m.content) for m in await core.engine.history.recent(view.session.id)]


async def test_a_refusing_backend_is_told_to_the_channel_and_the_next_message_works(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = refusing_backend(replies=["Fine now."])
    async with playing_aqua(emu, world, database, backend) as bot:
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
    async with playing_aqua(emu, world, database, backend) as bot:
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
    async with playing_aqua(emu, world, database, backend) as bot:
        emu.fail_next("PATCH", WEBHOOK_EDIT, status=502)
        await emu.send_message(world.channel, world.alice, "Talk to me.")
        reply = await wait_for_reply(emu, world.channel, "Aqua", timeout=15)
        assert reply.content == "Still streaming along."
        assert any(r.injected_fault for r in emu.requests_matching("PATCH", WEBHOOK_EDIT))
        # The history links the reply to the Discord message it was shown in.
        await asyncio.wait_for(until(lambda: _linked(bot.core, world, reply)), 5)


async def test_a_5xx_on_the_webhook_send_is_retried_and_the_reply_delivered(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Here I am."])
    async with playing_aqua(emu, world, database, backend, STREAM_REPLIES=False) as bot:
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
    async with playing_aqua(emu, world, database, backend, STREAM_REPLIES=False) as bot:
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
    async with playing_aqua(emu, world, database, backend):
        emu.fail_next("PATCH", WEBHOOK_EDIT, status=429, retry_after=0.2, times=2)
        await emu.send_message(world.channel, world.alice, "Go on.")
        reply = await wait_for_reply(emu, world.channel, "Aqua", timeout=15)
    assert reply.content == "Patience is a virtue."
    assert any(r.injected_fault for r in emu.requests_matching("PATCH", WEBHOOK_EDIT))


# --- 5xx past every retry ---------------------------------------------------------------------
# discord.py retries a webhook request (interaction responses included) on any 5xx, five tries
# in all with 1, 3, 5, 7 and 9 s between them; the bot's own REST client retries 500, 502, 504
# and 524 the same way but raises a 503 at once. ``hurried_retries`` keeps those counts and that
# order and only shrinks discord.py's sleeps a hundredfold, so these tests take seconds.

DISCORD_TRIES = 5
CHANNEL_POST = r"^/channels/\d+/messages$"
CALLBACK = r"^/interactions/\d+/[^/]+/callback$"


class _HurriedAsyncio(types.ModuleType):
    """``asyncio`` for discord.py's HTTP modules, with every sleep a hundred times shorter."""

    def __init__(self) -> None:
        super().__init__("asyncio")

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def sleep(delay: float, result: Any = None) -> Any:
        return await asyncio.sleep(delay / 100, result)


@pytest.fixture
def hurried_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    hurried = _HurriedAsyncio()
    monkeypatch.setattr(discord.webhook.async_, "asyncio", hurried)
    monkeypatch.setattr(discord.http, "asyncio", hurried)


async def test_a_webhook_send_failing_past_every_retry_is_told_and_nothing_unseen_is_kept(
    emu: DiscordEmulator, world: World, database: Database, hurried_retries: None
) -> None:
    backend = RecordingBackend(replies=["Never seen.", "Seen."])
    async with playing_aqua(emu, world, database, backend, STREAM_REPLIES=False) as bot:
        emu.fail_next("POST", WEBHOOK_POST, status=503, times=DISCORD_TRIES)
        await emu.send_message(world.channel, world.alice, "Hello?")
        warning = await emu.wait_for_message(world.channel, is_warning, timeout=10)
        assert "Discord did not take Aqua's reply" in warning.content
        assert "Your message is kept" in warning.content
        assert warning.allowed_mentions == {"parse": []}
        tries = [
            r
            for r in emu.requests_matching("POST", WEBHOOK_POST)
            if (r.json or {}).get("username") == "Aqua"
        ]
        assert len(tries) == DISCORD_TRIES and all(r.injected_fault for r in tries)
        assert await history(bot.core, world.channel.id) == [(Role.HUMAN, "Hello?")]

        await emu.send_message(world.channel, world.alice, "Once more.")
        reply = await wait_for_reply(emu, world.channel, "Aqua")
        assert reply.content == "Seen."
        assert await history(bot.core, world.channel.id) == [
            (Role.HUMAN, "Hello?"),
            (Role.HUMAN, "Once more."),
            (Role.CHARACTER, "Seen."),
        ]


async def test_a_streaming_edit_failing_past_every_retry_takes_the_partial_text_away(
    emu: DiscordEmulator, world: World, database: Database, hurried_retries: None
) -> None:
    long = " ".join(f"word{i}" for i in range(40))  # about 2 s of streaming: several edits
    backend = RecordingBackend(replies=[long, "Fine now."], delay=0.05)
    async with playing_aqua(emu, world, database, backend) as bot:
        emu.fail_next("PATCH", WEBHOOK_EDIT, status=503, times=DISCORD_TRIES)
        await emu.send_message(world.channel, world.alice, "Tell me a story.")
        warning = await emu.wait_for_message(world.channel, is_warning, timeout=15)
        assert "Discord did not take Aqua's reply" in warning.content
        edits = emu.requests_matching("PATCH", WEBHOOK_EDIT)
        assert sum(r.injected_fault for r in edits) == DISCORD_TRIES
        # The partial text was posted while streaming, then taken away.
        assert emu.requests_matching("DELETE", WEBHOOK_EDIT)
        assert not [m for m in emu.messages_in(world.channel) if is_character_message("Aqua")(m)]
        assert await history(bot.core, world.channel.id) == [(Role.HUMAN, "Tell me a story.")]

        await emu.send_message(world.channel, world.alice, "Hello again.")
        reply = await wait_for_reply(emu, world.channel, "Aqua", timeout=15)
        assert reply.content == "Fine now."


async def test_when_even_the_warning_fails_it_is_logged_and_the_bot_carries_on(
    emu: DiscordEmulator,
    world: World,
    database: Database,
    hurried_retries: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = RecordingBackend(replies=["Never seen.", "Seen."])
    async with playing_aqua(emu, world, database, backend, STREAM_REPLIES=False) as bot:
        emu.fail_next("POST", WEBHOOK_POST, status=503, times=DISCORD_TRIES)
        emu.fail_next("POST", CHANNEL_POST, status=503)  # raised at once: no retry for a 503
        await emu.send_message(world.channel, world.alice, "Hello?")
        await emu.wait_for_request(
            lambda r: r.injected_fault, method="POST", path=CHANNEL_POST, timeout=10
        )

        def logged() -> bool:
            return any("Could not tell channel" in r.getMessage() for r in caplog.records)

        await asyncio.wait_for(until(logged), 5)
        assert not [m for m in emu.messages_in(world.channel) if is_warning(m)]
        assert await history(bot.core, world.channel.id) == [(Role.HUMAN, "Hello?")]

        await emu.send_message(world.channel, world.alice, "Once more.")
        reply = await wait_for_reply(emu, world.channel, "Aqua")
        assert reply.content == "Seen."


async def test_a_command_whose_answer_fails_past_every_retry_leaves_the_bot_working(
    emu: DiscordEmulator,
    world: World,
    database: Database,
    hurried_retries: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = RecordingBackend(replies=["Hi."])
    async with galatea(emu, database, backend):
        # The answer fails, and so does the error handler's apology after it.
        emu.fail_next("POST", CALLBACK, status=503, times=2 * DISCORD_TRIES)
        await emu.invoke_command("config show", {}, user=world.alice, channel=world.channel)

        def both_failed() -> bool:
            return len(emu.requests_matching("POST", CALLBACK)) == 2 * DISCORD_TRIES

        await asyncio.wait_for(until(both_failed), 10)

        def logged() -> bool:
            return any("Could not tell the user" in r.getMessage() for r in caplog.records)

        await asyncio.wait_for(until(logged), 5)
        record = await emu.invoke_command(
            "config show", {}, user=world.alice, channel=world.channel
        )
        answer = await record.response()
        assert answer["type"] == 4 and answer["data"]["flags"] & 64  # ephemeral
        assert not emu.requests_matching("POST", CALLBACK)[-1].injected_fault


# --- reply limits: held messages are kept, and people are told once -------------------------


def is_limit_note(message: StoredMessage) -> bool:
    return message.webhook_id is None and message.content.startswith("⏳")


async def test_the_channel_limit_is_told_once_and_keeps_the_messages(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Answer."])
    async with playing_aqua(emu, world, database, backend, REPLIES_PER_CHANNEL_PER_MINUTE=1) as bot:
        await emu.send_message(world.channel, world.alice, "First.")
        await wait_for_reply(emu, world.channel, "Aqua")
        await emu.send_message(world.channel, world.bob, "Second.")
        note = await emu.wait_for_message(world.channel, is_limit_note)
        assert note.content == (
            "⏳ Aqua needs a moment: replies here are limited to one reply a minute. Your "
            "messages are kept in the story."
        )
        assert note.allowed_mentions == {"parse": []}
        await emu.send_message(world.channel, world.carol, "Third.")

        async def all_stored() -> bool:
            texts = [text for _, text in await history(bot.core, world.channel.id)]
            return texts[-2:] == ["Second.", "Third."]

        await asyncio.wait_for(until(all_stored), 5)
        await asyncio.sleep(0.3)
        assert [m.id for m in emu.messages_in(world.channel) if is_limit_note(m)] == [note.id]
    assert len(backend.calls) == 1


async def test_a_member_past_their_limit_is_answered_once_without_a_ping(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Answer."])
    async with playing_aqua(emu, world, database, backend, REPLIES_PER_USER_PER_MINUTE=1) as bot:
        await emu.send_message(world.channel, world.alice, "One.")
        first = await wait_for_reply(emu, world.channel, "Aqua")
        held = await emu.send_message(world.channel, world.alice, "Two.")
        note = await emu.wait_for_message(world.channel, is_limit_note)
        assert note.content.startswith("⏳ You are writing faster than Aqua can answer")
        assert "one reply a minute" in note.content
        assert note.get("message_reference", {}).get("message_id") == str(held.id)
        assert note.allowed_mentions == {"parse": [], "replied_user": False}
        assert not note.get("mentions")
        await emu.send_message(world.channel, world.alice, "Three.")
        # Another member is not held: the channel has no limit.
        await emu.send_message(world.channel, world.bob, "Hi Aqua.")
        await wait_for_reply(emu, world.channel, "Aqua", after=first.id)
        assert [m.id for m in emu.messages_in(world.channel) if is_limit_note(m)] == [note.id]
        humans = [t for role, t in await history(bot.core, world.channel.id) if role is Role.HUMAN]
        assert humans == ["One.", "Two.", "Three.", "Hi Aqua."]
    assert len(backend.calls) == 2
