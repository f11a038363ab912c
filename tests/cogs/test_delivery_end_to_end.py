"""How replies reach Discord when its rules bite: a webhook deleted by a moderator (before or
in the middle of a reply), the webhook caps, and messages at Discord's 2,000 characters."""

from __future__ import annotations

import asyncio

import pytest

from bot.store import Database
from testkit.discord_emulator import DiscordEmulator, StoredMessage, permissions
from testkit.discord_emulator.rest_webhooks import MAX_WEBHOOKS_PER_GUILD
from testkit.harness import World, galatea, is_character_message, wait_for_reply
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.support.recording_backend import RecordingBackend
from tests.support.waiting import until

NO_WEBHOOKS = permissions.DEFAULT_BOT & ~permissions.MANAGE_WEBHOOKS


def _no_request_refused(emu: DiscordEmulator) -> None:
    refused = [(r.method, r.path, r.status) for r in emu.recorder.requests if r.status == 400]
    assert not refused, refused


async def _history_ids(bot: object, channel_id: int) -> list[int | None]:
    engine = bot.core.engine  # type: ignore[attr-defined]
    view = await engine.sessions.active(channel_id)
    return [m.discord_message_id for m in await engine.history.recent(view.session.id)]


# -- a deleted webhook ----------------------------------------------------------------------------


@pytest.mark.parametrize("announced", [True, False], ids=["event", "event-late"])
async def test_a_webhook_deleted_by_a_moderator_is_replaced_and_replies_go_on(
    emu: DiscordEmulator, world: World, database: Database, announced: bool
) -> None:
    backend = RecordingBackend(replies=["First.", "Second."])
    async with galatea(emu, database, backend):  # streaming on, the default
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Hi!")
        first = await wait_for_reply(emu, world.channel, "Aqua")
        assert first.webhook_id is not None
        emu.delete_webhook(emu.world.webhooks[first.webhook_id], announce=announced)
        await asyncio.sleep(0.1)  # the event (if any) reaches the bot
        await emu.send_message(world.channel, world.bob, "Hello?")
        second = await wait_for_reply(emu, world.channel, "Aqua", after=first.id)
    assert second.content == "Second."
    assert second.webhook_id != first.webhook_id and second.webhook_id in emu.world.webhooks
    if announced:  # told by the gateway: nothing is posted through the dead webhook
        assert not [r for r in emu.recorder.requests if r.method == "POST" and r.status == 404]


async def test_a_webhook_deleted_mid_reply_moves_the_reply_to_a_new_one(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    text = " ".join(f"w{i}" for i in range(60))
    backend = RecordingBackend(replies=[text], delay=0.05)  # three seconds of streaming
    async with galatea(emu, database, backend) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Tell me a story.")
        partial = await emu.wait_for_message(
            world.channel, is_character_message("Aqua"), timeout=10
        )
        assert partial.content.endswith(" …")
        assert partial.webhook_id is not None
        emu.delete_webhook(emu.world.webhooks[partial.webhook_id], announce=False)
        final = await wait_for_reply(emu, world.channel, "Aqua", after=partial.id, timeout=15)
        stored = await _history_ids(bot, world.channel.id)
    assert final.content == text
    assert stored[-1] == final.id  # the history points at the message people see
    # The dead webhook's half-written message is taken away (the bot may manage messages).
    assert all(m.id != partial.id for m in emu.messages_in(world.channel))


async def test_a_deleted_webhook_with_no_right_to_make_another_falls_back_to_plain_messages(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["First.", "Second."])
    async with galatea(emu, database, backend):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Hi!")
        first = await wait_for_reply(emu, world.channel, "Aqua")
        assert first.webhook_id is not None
        emu.delete_webhook(emu.world.webhooks[first.webhook_id], announce=False)
        emu.set_bot_permissions(world.guild, NO_WEBHOOKS)
        await emu.send_message(world.channel, world.bob, "Hello?")
        second = await emu.wait_for_message(
            world.channel,
            lambda m: m.content == "**Aqua**: Second." and bool(m.get("components")),
            timeout=10,
        )
    assert second.webhook_id is None


# -- webhook caps and giving webhooks back --


async def test_at_the_servers_webhook_cap_replies_come_as_plain_messages(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    others = [emu.world.add_channel(world.guild, f"other-{i}") for i in range(67)]
    for n in range(MAX_WEBHOOKS_PER_GUILD):  # other integrations hold the server's 1,000
        emu.world.add_webhook(others[n // 15], f"Other {n}", creator=world.bob.user)
    backend = RecordingBackend(replies=["Plainly."])
    async with galatea(emu, database, backend):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Hello?")
        reply = await emu.wait_for_message(
            world.channel,
            lambda m: m.content == "**Aqua**: Plainly." and bool(m.get("components")),
            timeout=10,
        )
        status = await emu.invoke_command(
            "session status", {}, user=world.alice, channel=world.channel
        )
        body = await status.response()
    assert reply.webhook_id is None
    fields = {f["name"]: f["value"] for f in body["data"]["embeds"][0]["fields"]}
    assert "as many webhooks as Discord allows" in fields["Replies shown through"]
    assert [r.status for r in emu.requests_matching("POST", r"^/channels/\d+/webhooks$")] == [400]


async def test_stopping_a_roleplay_gives_its_webhooks_back(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Bye."])
    async with galatea(emu, database, backend) as bot:
        cog = bot.roleplay_cog
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Hi!")
        await wait_for_reply(emu, world.channel, "Aqua")
        assert emu.world.webhooks_in(world.channel.id)
        assert cog.per_channel_entries() > 0
        record = await emu.invoke_command(
            "session stop", {}, user=world.alice, channel=world.channel
        )
        await record.response()
        await until(lambda: not emu.world.webhooks_in(world.channel.id), timeout=5)
        assert cog.per_channel_entries() == 0  # nothing kept for the quiet channel


async def test_after_a_restart_stopping_a_roleplay_still_gives_its_webhooks_back(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend(replies=["Hi."])):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Hi!")
        await wait_for_reply(emu, world.channel, "Aqua")
    other = emu.world.add_webhook(world.channel, "Someone else's", creator=world.bob.user)
    async with galatea(emu, database, RecordingBackend()):  # knows no webhook yet
        record = await emu.invoke_command(
            "session stop", {}, user=world.alice, channel=world.channel
        )
        await record.response()
        await until(lambda: emu.world.webhooks_in(world.channel.id) == [other], timeout=5)


async def test_webhook_pools_are_kept_for_a_bounded_number_of_channels(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    channels = [world.channel] + [emu.add_text_channel(world.guild, f"rp-{i}") for i in range(3)]
    backend = RecordingBackend(replies=["Here."])
    async with galatea(emu, database, backend) as bot:
        deliveries = bot.roleplay_cog.deliveries
        deliveries.CHANNELS_KEPT = 2  # the real bound is 1,000; the rule is the same
        await create_aqua(emu, world, greeting="")
        for channel in channels:
            record = await emu.invoke_command(
                "session start", {"character": "Aqua"}, user=world.alice, channel=channel
            )
            await record.response()
            await record.followup()  # the roleplay has started
            await emu.send_message(channel, world.alice, "Hi!")
            await wait_for_reply(emu, channel, "Aqua")
            assert len(deliveries._pools) <= 2
        # The channel forgotten first still works: its webhooks are read again.
        first = [m for m in emu.messages_in(channels[0]) if m.webhook_id][-1]
        await emu.send_message(channels[0], world.bob, "Still there?")
        again = await wait_for_reply(emu, channels[0], "Aqua", after=first.id)
    assert again.webhook_id == first.webhook_id  # found again, not a new webhook


# -- 2,000 characters with every prefix and suffix --


async def test_without_manage_webhooks_a_long_reply_fits_with_the_name_in_front(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    emu.set_bot_permissions(world.guild, NO_WEBHOOKS)
    long_reply = " ".join(f"Sentence number {i} is here." for i in range(150))  # ~4,000 chars
    backend = RecordingBackend(replies=[long_reply])
    async with galatea(emu, database, backend, MAX_NEW_TOKENS=1024):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Tell me everything.")
        last = await emu.wait_for_message(
            world.channel,
            lambda m: m.content.startswith("**Aqua**: ") and bool(m.get("components")),
            timeout=15,
        )
    pieces = [m for m in emu.messages_in(world.channel) if m.content.startswith("**Aqua**: ")]
    assert len(pieces) >= 3 and last.id == pieces[-1].id
    assert all(len(p.content) <= 2000 for p in pieces)
    assert " ".join(p.content.removeprefix("**Aqua**: ") for p in pieces) == long_reply
    _no_request_refused(emu)


@pytest.mark.parametrize("length", [1999, 2000])
async def test_a_streamed_text_near_2000_characters_leaves_room_for_its_mark(
    emu: DiscordEmulator, world: World, database: Database, length: int
) -> None:
    text = "a" * length  # one word: the stream shows it whole at once
    async with galatea(emu, database, RecordingBackend(replies=[text]), MAX_NEW_TOKENS=1024):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Go on.")
        reply = await wait_for_reply(emu, world.channel, "Aqua")
    assert reply.content == text
    _no_request_refused(emu)


async def test_impersonate_posts_a_long_line_without_webhooks_and_loses_nothing(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    emu.set_bot_permissions(world.guild, NO_WEBHOOKS)
    draft = " ".join(f"I say {i}." for i in range(192))  # ~2,000 characters
    assert 1990 <= len(draft) <= 2100, len(draft)
    backend = RecordingBackend(replies=[draft, "Noted."])
    async with galatea(emu, database, backend, MAX_NEW_TOKENS=1024):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        record = await emu.invoke_command(
            "impersonate", {}, user=world.carol, channel=world.channel
        )
        await record.response()
        shown = await record.followup()
        button = shown["components"][0]["components"][0]["custom_id"]
        click = await emu.click_button(shown, button, world.carol)
        await click.response()

        def carols(m: StoredMessage) -> bool:
            return m.content.startswith("**Carol**: ")

        await emu.wait_for_message(world.channel, carols, timeout=10)
        await until(
            lambda: (
                " ".join(
                    m.content.removeprefix("**Carol**: ")
                    for m in emu.messages_in(world.channel)
                    if carols(m)
                )
                == draft
            ),
            timeout=5,
        )
    assert all(len(m.content) <= 2000 for m in emu.messages_in(world.channel))
    _no_request_refused(emu)
