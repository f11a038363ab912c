"""The scenarios a Discord server meets, with the real bot against the local Discord."""

# Polling helpers below are always wrapped in asyncio.wait_for: every wait is bounded.

from __future__ import annotations

import asyncio

import discord

from bot.inference.ctransformers_backend import CTransformersBackend
from bot.store import Database
from bot.values import Role
from testkit.discord_emulator import DiscordEmulator, permissions
from testkit.harness import World, galatea, is_character_message, wait_for_reply
from tests.support.recording_backend import RecordingBackend
from tests.support.waiting import until

PERSONA = "A cheerful water goddess."


async def create_aqua(
    emu: DiscordEmulator, world: World, *, greeting: str = "Hello {{user}}!"
) -> None:
    record = await emu.invoke_command(
        "character create", {"name": "Aqua"}, user=world.alice, channel=world.channel
    )
    await record.response()
    assert record.modal is not None and record.modal["custom_id"].startswith("galatea:character:")
    submitted = await emu.submit_modal(
        None,
        {"name": "Aqua", "persona": PERSONA, "greeting": greeting, "scenario": "", "examples": ""},
        world.alice,
    )
    callback = await submitted.response()
    assert "is ready" in callback["data"]["content"]


async def start_session(emu: DiscordEmulator, world: World) -> None:
    record = await emu.invoke_command(
        "session start", {"character": "Aqua"}, user=world.alice, channel=world.channel
    )
    await record.response()
    started = await record.followup()
    assert "joins the roleplay" in started.content


async def test_create_start_talk_and_reply_through_the_webhook(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=[" Welcome, you two! @everyone <@1234>"])
    async with galatea(emu, database, backend):
        await create_aqua(emu, world)
        await start_session(emu, world)
        greeting = await wait_for_reply(emu, world.channel, "Aqua")
        assert greeting.content == "Hello Alice!"

        backend.release = asyncio.Event()  # hold the first reply until Bob has spoken too
        await emu.send_message(world.channel, world.alice, "Hi Aqua!")
        await asyncio.wait_for(until(lambda: len(backend.calls) == 1), 5)
        await emu.send_message(world.channel, world.bob, "Hey there.")
        await asyncio.sleep(0.1)
        backend.release.set()
        first = await wait_for_reply(emu, world.channel, "Aqua", after=greeting.id)
        reply = await wait_for_reply(emu, world.channel, "Aqua", after=first.id)

    prompt = backend.prompts[-1]
    assert f"Aqua's Persona: {PERSONA}" in prompt
    assert "\nAlice: Hi Aqua!\n" in prompt and "\nBob: Hey there.\n" in prompt
    assert prompt.endswith("\nAqua:")
    assert reply.content.startswith("Welcome, you two!")
    # The model wrote @everyone and a user mention: nobody is pinged.
    assert reply.allowed_mentions == {"parse": []}
    assert not reply.get("mention_everyone") and not reply.get("mentions")
    for request in emu.requests_matching(None, r"^/webhooks/\d+/"):
        if request.method in ("POST", "PATCH") and request.json is not None:
            assert request.json.get("allowed_mentions") == {"parse": []}


async def test_a_burst_during_generation_gets_one_reply_covering_all(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["First answer.", "One answer for all of you."])
    async with galatea(emu, database, backend):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        backend.release = asyncio.Event()
        await emu.send_message(world.channel, world.alice, "Question one?")
        await asyncio.wait_for(until(lambda: len(backend.calls) == 1), 5)
        for who, text in (
            (world.bob, "Also this."),
            (world.carol, "And me!"),
            (world.alice, "Hm?"),
        ):
            await emu.send_message(world.channel, who, text)
        await asyncio.sleep(0.2)
        backend.release.set()
        first = await wait_for_reply(emu, world.channel, "Aqua")
        second = await wait_for_reply(emu, world.channel, "Aqua", after=first.id)
        await asyncio.sleep(0.3)
    assert len(backend.calls) == 2
    last = backend.prompts[1]
    assert "Bob: Also this." in last and "Carol: And me!" in last and "Alice: Hm?" in last
    assert second.content == "One answer for all of you."


async def test_swipe_regenerates_and_browses_versions(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["First version.", "Second version."])
    async with galatea(emu, database, backend) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.bob, "Tell me something.")
        reply = await wait_for_reply(emu, world.channel, "Aqua")
        session = (await bot.core.engine.sessions.active(world.channel.id)).session.id  # type: ignore[union-attr]

        click = await emu.click_button(reply, f"galatea:reply:regen:{session}", world.bob)
        await click.response()
        await emu.wait_for_message(
            world.channel, lambda m: m.id == reply.id and m.content == "Second version."
        )
        history = await bot.core.engine.history.recent(session)
        assert history[-1].content == "Second version."
        assert history[-1].swipes == ("First version.", "Second version.")

        back = await emu.click_button(reply, f"galatea:reply:prev:{session}", world.bob)
        await back.response()
        await emu.wait_for_message(
            world.channel, lambda m: m.id == reply.id and m.content == "First version."
        )
        assert (await bot.core.engine.history.recent(session))[-1].content == "First version."


async def test_edits_and_deletes_on_discord_change_the_history(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Okay."])
    async with galatea(emu, database, backend) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        typo = await emu.send_message(world.channel, world.alice, "I has a typo")
        first = await wait_for_reply(emu, world.channel, "Aqua")
        secret = await emu.send_message(world.channel, world.bob, "Forget I said this")
        await wait_for_reply(emu, world.channel, "Aqua", after=first.id)
        await emu.edit_message(typo, "I have no typo")
        await emu.delete_message(secret)
        session = (await bot.core.engine.sessions.active(world.channel.id)).session.id  # type: ignore[union-attr]

        async def settled() -> bool:
            texts = [m.content for m in await bot.core.engine.history.recent(session)]
            return "I have no typo" in texts and "Forget I said this" not in texts

        await asyncio.wait_for(until(settled), 5)


async def test_a_restart_with_the_same_database_continues_the_story(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Noted."])
    async with galatea(emu, database, backend):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "My name is Alice and I like tea.")
        await wait_for_reply(emu, world.channel, "Aqua")
    async with galatea(emu, database, backend):
        await emu.send_message(world.channel, world.bob, "What does Alice like?")
        await emu.wait_for_message(
            world.channel,
            lambda m: is_character_message("Aqua")(m) and len(backend.calls) == 2,
            timeout=10,
        )
    assert "Alice: My name is Alice and I like tea." in backend.prompts[-1]


async def test_config_is_refused_to_a_non_admin_and_works_for_an_admin(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        refused = await emu.invoke_command(
            "config reply-mode", {"mode": "mention"}, user=world.bob, channel=world.channel
        )
        answer = await refused.response()
        assert answer["data"]["flags"] & 64  # ephemeral
        assert "Manage Server" in answer["data"]["content"]
        assert (await bot.core.guild_config.get(world.guild.id)).reply_mode == "all"

        allowed = await emu.invoke_command(
            "config reply-mode", {"mode": "mention"}, user=world.alice, channel=world.channel
        )
        await allowed.response()
        assert (await bot.core.guild_config.get(world.guild.id)).reply_mode == "mention"
    synced = emu.requests_matching("PUT", r"/applications/\d+/commands$")
    config = next(c for c in synced[-1].json if c["name"] == "config")
    assert int(config["default_member_permissions"]) == discord.Permissions(manage_guild=True).value


async def test_a_429_on_the_webhook_is_survived(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Still here."])
    async with galatea(emu, database, backend):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        emu.fail_next("POST", r"^/webhooks/\d+/[^/]+$", status=429, retry_after=0.1)
        await emu.send_message(world.channel, world.alice, "Are you there?")
        reply = await wait_for_reply(emu, world.channel, "Aqua")
    assert reply.content == "Still here."
    assert any(r.injected_fault for r in emu.requests_matching("POST", r"^/webhooks/"))


async def test_a_dropped_gateway_connection_is_survived(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Back again."])
    async with galatea(emu, database, backend):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.drop_gateway()
        await emu.wait_for_gateway_op(6, timeout=10)  # RESUME
        await emu.send_message(world.channel, world.alice, "Did you miss me?")
        reply = await wait_for_reply(emu, world.channel, "Aqua")
    assert reply.content == "Back again."


async def test_without_manage_webhooks_replies_come_as_bot_messages(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    emu.set_bot_permissions(world.guild, permissions.DEFAULT_BOT & ~permissions.MANAGE_WEBHOOKS)
    backend = RecordingBackend(replies=["Plainly."])
    async with galatea(emu, database, backend):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Hello?")
        reply = await emu.wait_for_message(
            world.channel,
            lambda m: m.content.startswith("**Aqua**: ") and bool(m.get("components")),
        )
        status = await emu.invoke_command(
            "session status", {}, user=world.alice, channel=world.channel
        )
        body = await status.response()
    assert reply.content == "**Aqua**: Plainly."
    assert reply.allowed_mentions == {"parse": []}
    fields = {f["name"]: f["value"] for f in body["data"]["embeds"][0]["fields"]}
    assert "Manage Webhooks" in fields["Replies shown through"]


async def test_out_of_character_messages_and_bots_are_skipped(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Mm."])
    async with galatea(emu, database, backend) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "// brb, getting tea")
        await emu.send_message(world.channel, world.bob, "((is this thing on?))")
        await emu.send_message(world.channel, world.carol, "In character now.")
        await wait_for_reply(emu, world.channel, "Aqua")
        session = (await bot.core.engine.sessions.active(world.channel.id)).session.id  # type: ignore[union-attr]
        history = await bot.core.engine.history.recent(session)
    assert [(m.role, m.content) for m in history] == [
        (Role.HUMAN, "In character now."),
        (Role.CHARACTER, "Mm."),
    ]


async def test_the_real_model_answers_in_a_channel(
    emu: DiscordEmulator, world: World, database: Database, tiny_backend: CTransformersBackend
) -> None:
    async with galatea(emu, database, tiny_backend, TEMPERATURE=0.0, TOP_K=1, MAX_NEW_TOKENS=24):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Hello, goddess!")
        await emu.send_message(world.channel, world.bob, "Hi!")
        reply = await wait_for_reply(emu, world.channel, "Aqua", timeout=30)
    assert reply.content.strip()
    assert reply.allowed_mentions == {"parse": []}
    stats = tiny_backend.last_stats
    assert stats is not None and stats.generated_tokens > 0


async def test_stopping_the_session_mid_reply_takes_the_partial_text_away(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["A long tale " * 40], delay=0.05)
    async with galatea(emu, database, backend) as bot:
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Tell me everything.")
        partial = await emu.wait_for_message(
            world.channel, is_character_message("Aqua"), timeout=10
        )
        stopped = await emu.invoke_command(
            "session stop", {}, user=world.alice, channel=world.channel
        )
        await stopped.response()
        await asyncio.wait_for(bot.roleplay.idle(), 5)
        await asyncio.wait_for(
            until(lambda: all(m.id != partial.id for m in emu.messages_in(world.channel))), 5
        )
        view = await bot.core.engine.sessions.active(world.channel.id)
    assert view is None
    assert not any(is_character_message("Aqua")(m) for m in emu.messages_in(world.channel))
    assert not any(m.content.startswith("⚠️") for m in emu.messages_in(world.channel))
