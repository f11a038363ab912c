"""End-to-end tests: a real discord.py bot against the emulator (gateway, messages, webhooks)."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import discord
import pytest

from testkit.discord_emulator import (
    DiscordEmulator,
    Upload,
    discord_py_globals_restored,
    permissions,
    point_discord_py_at,
)
from testkit.discord_emulator.discord_py import running_bot
from testkit.discord_emulator.gateway import OP_IDENTIFY, OP_REQUEST_MEMBERS, OP_RESUME
from tests.discord_emulator.sample_bot import EmuBot, Scene, wait_until

pytestmark = pytest.mark.timeout(30)

WEBHOOK_EXECUTE = r"^/webhooks/\d+/[^/]+$"


async def test_ready_and_guild_create_populate_the_cache(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    assert bot.user is not None and bot.user.id == emu.bot.id
    assert bot.application_id == emu.application_id
    guild = bot.get_guild(scene.guild.id)
    assert guild is not None and guild.name == "Tavern" and guild.owner_id == scene.guild.owner_id
    names = {m.display_name for m in guild.members}
    assert {"Alice the Bold", "Bobby", "Galatea"} <= names
    assert guild.chunked  # members arrived via REQUEST_MEMBERS -> GUILD_MEMBERS_CHUNK
    assert emu.gateway_frames(OP_REQUEST_MEMBERS)
    me = guild.me
    assert any(r.is_bot_managed() for r in me.roles)
    channel = guild.get_channel(scene.channel.id)
    assert isinstance(channel, discord.TextChannel)
    assert channel.permissions_for(me).manage_webhooks
    assert emu.gateway.connect_log[0][1]["compress"] == "zlib-stream"


async def test_json_content_type_is_exact(emu: DiscordEmulator) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{emu.api_url}/gateway/bot") as resp:
        assert resp.status == 401  # no token
        assert resp.headers["Content-Type"] == "application/json"
        assert await resp.json() == {"message": "401: Unauthorized", "code": 0}


async def test_wrong_token_is_rejected(emu: DiscordEmulator, scene: Scene) -> None:
    with discord_py_globals_restored():
        await point_discord_py_at(emu)
        client = EmuBot()
        with pytest.raises(discord.LoginFailure):
            await asyncio.wait_for(client.login("not-the-token"), 5)
        await asyncio.wait_for(client.close(), 5)
    assert emu.requests_matching("GET", "^/users/@me$")[0].status == 401


async def test_message_reaches_on_message_with_content(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    await emu.send_message(scene.channel, scene.alice, f"hello there {scene.bob.user.mention}")
    msg = await bot.wait_for("message", timeout=5)
    assert msg.content.startswith("hello there")
    assert msg.author.display_name == "Alice the Bold"
    assert [m.id for m in msg.mentions] == [scene.bob.id]

    stored = emu.messages_in(scene.channel)[-1]
    await emu.edit_message(stored, "edited text")
    before, after = await bot.wait_for("message_edit", timeout=5)
    assert (before.content, after.content) == (stored.revisions[0]["content"], "edited text")
    await emu.delete_message(stored)
    deleted = await bot.wait_for("message_delete", timeout=5)
    assert deleted.id == stored.id


async def test_without_message_content_intent_content_is_blank(
    emu: DiscordEmulator, scene: Scene
) -> None:
    intents = discord.Intents.default()  # no message_content, no members
    async with running_bot(EmuBot(intents), emu) as client:
        await emu.send_message(scene.channel, scene.alice, "secret")
        msg = await client.wait_for("message", timeout=5)
        assert msg.content == ""
        await emu.send_message(scene.channel, scene.alice, f"{emu.bot.mention} hi")
        msg = await client.wait_for("message", timeout=5)
        assert msg.content.endswith("hi")  # mentioning the bot reveals content


async def test_privileged_intent_not_enabled_fails_startup(
    emu: DiscordEmulator, scene: Scene
) -> None:
    emu.gateway.privileged_allowed = 0
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running_bot(EmuBot(), emu, timeout=5):
            pass


async def test_channel_send_with_typing(emu: DiscordEmulator, scene: Scene, bot: EmuBot) -> None:
    await emu.send_message(scene.channel, scene.alice, "!echo ping")
    reply = await emu.wait_for_message(scene.channel, lambda m: m.author_id == emu.bot.id)
    assert reply.content == "ping"
    assert emu.requests_matching("POST", rf"^/channels/{scene.channel.id}/typing$")
    request = emu.requests_matching("POST", rf"^/channels/{scene.channel.id}/messages$")[0]
    assert request.headers["Authorization"] == f"Bot {emu.token}"


async def test_webhook_relay_send_and_edit_with_no_mentions(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    await emu.send_message(
        scene.channel, scene.alice, f"!rp Hi @everyone and {scene.bob.user.mention}"
    )
    await wait_until(lambda: bot.webhook_messages)
    webhook = next(iter(emu.world.webhooks.values()))
    assert webhook.name == "Galatea Relay" and webhook.channel_id == scene.channel.id
    msg = await emu.wait_for_message(scene.channel, lambda m: m.webhook_id == webhook.id)
    assert msg.author_name == "Aria" and msg["author"]["bot"] is True
    assert msg.avatar_url == "https://example.invalid/aria.png"
    assert msg.allowed_mentions == {"parse": []}  # AllowedMentions.none()
    assert not msg.mention_everyone and msg.mentioned_user_ids == []
    assert msg.content.endswith("(edited)") and msg.revisions
    execute = emu.requests_matching("POST", WEBHOOK_EXECUTE)[0]
    assert execute.query["wait"] == "1" and "Authorization" not in execute.headers
    assert execute.json["username"] == "Aria"
    edit = emu.requests_matching("PATCH", rf"/webhooks/{webhook.id}/.+/messages/{msg.id}$")[0]
    assert edit.json["allowed_mentions"] == {"parse": []}
    # The webhook message is also dispatched, and discord.py sees its webhook_id.
    relayed = bot.webhook_messages[0]
    assert relayed.webhook_id == webhook.id and relayed.author.name == "Aria"


async def test_user_mentions_everyone_without_allowed_mentions(
    emu: DiscordEmulator, scene: Scene
) -> None:
    msg = await emu.send_message(scene.channel, scene.alice, "@everyone look")
    assert msg.mention_everyone  # default @everyone permissions include MENTION_EVERYONE


async def test_webhook_limits_and_name_rules(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    channel = bot.get_channel(scene.channel.id)
    assert isinstance(channel, discord.TextChannel)
    for bad in ("My Discord Hook", "cLyDe", "x" * 81):
        with pytest.raises(discord.HTTPException) as info:
            await channel.create_webhook(name=bad)
        assert info.value.status == 400 and info.value.code == 50035
    for i in range(15):
        await channel.create_webhook(name=f"hook {i}")
    with pytest.raises(discord.HTTPException) as info:
        await channel.create_webhook(name="one too many")
    assert info.value.code == 30007
    assert len(await channel.webhooks()) == 15
    hooks = await bot.get_guild(scene.guild.id).webhooks()  # type: ignore[union-attr]
    await hooks[0].delete()
    assert len(await channel.webhooks()) == 14


async def test_missing_manage_webhooks_is_forbidden(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    emu.set_bot_permissions(scene.guild, permissions.DEFAULT_BOT & ~permissions.MANAGE_WEBHOOKS)
    guild = bot.get_guild(scene.guild.id)
    assert guild is not None
    await wait_until(lambda: not guild.me.guild_permissions.manage_webhooks)  # GUILD_ROLE_UPDATE
    channel = guild.get_channel(scene.channel.id)
    with pytest.raises(discord.Forbidden) as info:
        await channel.create_webhook(name="Relay")  # type: ignore[union-attr]
    assert info.value.code == 50013 and info.value.text == "Missing Permissions"


async def test_rate_limited_webhook_send_is_retried(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    channel = bot.get_channel(scene.channel.id)
    webhook = await channel.create_webhook(name="Relay")  # type: ignore[union-attr]
    emu.fail_next("POST", WEBHOOK_EXECUTE, status=429, retry_after=0.05)
    sent = await webhook.send("after a 429", username="Bram", wait=True)
    assert sent.content == "after a 429"
    attempts = emu.requests_matching("POST", WEBHOOK_EXECUTE)
    assert [(r.status, r.injected_fault) for r in attempts] == [(429, True), (200, False)]


async def test_cloudflare_429_without_via_is_not_retried(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    channel = bot.get_channel(scene.channel.id)
    emu.fail_next("POST", r"/messages$", status=429, via=False)
    with pytest.raises(discord.HTTPException) as info:
        await channel.send("blocked")  # type: ignore[union-attr]
    assert info.value.status == 429
    assert len(emu.requests_matching("POST", r"/messages$")) == 1


async def test_server_error_once_is_retried(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    channel = bot.get_channel(scene.channel.id)
    emu.fail_next("POST", r"/messages$", status=502)  # discord.py sleeps 1s, then retries
    sent = await channel.send("survived")  # type: ignore[union-attr]
    assert sent.content == "survived"
    statuses = [r.status for r in emu.requests_matching("POST", r"/messages$")]
    assert statuses == [502, 200]


async def test_503_is_retried_for_webhooks_but_not_for_bot_routes(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    channel = bot.get_channel(scene.channel.id)
    emu.fail_next("POST", r"/messages$", status=503)
    with pytest.raises(discord.DiscordServerError):  # HTTPClient retries only 500/502/504/524
        await channel.send("no retry")  # type: ignore[union-attr]
    webhook = await channel.create_webhook(name="Relay")  # type: ignore[union-attr]
    emu.fail_next("POST", WEBHOOK_EXECUTE, status=503)
    sent = await webhook.send("retried", wait=True)  # the webhook adapter retries any 5xx
    assert sent.content == "retried"


async def test_uncompressed_gateway() -> None:
    async with DiscordEmulator(gateway_compression=False) as plain:
        guild = plain.add_guild("Plain")
        channel = plain.add_text_channel(guild, "text")
        user = plain.add_member(guild, "carol")
        async with running_bot(EmuBot(), plain) as client:
            await plain.send_message(channel.id, user, "plain text frames")
            assert (await client.wait_for("message", timeout=5)).content == "plain text frames"


async def test_file_upload_through_webhook_is_stored(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    channel = bot.get_channel(scene.channel.id)
    webhook = await channel.create_webhook(name="Relay")  # type: ignore[union-attr]
    file = discord.File(io.BytesIO(b"\x89PNG-bytes"), filename="portrait.png")
    sent = await webhook.send("portrait", file=file, username="Aria", wait=True)
    stored = emu.world.messages[sent.id]
    assert [(f.filename, f.data) for f in stored.files] == [("portrait.png", b"\x89PNG-bytes")]
    request = emu.requests_matching("POST", WEBHOOK_EXECUTE)[-1]
    assert request.json["content"] == "portrait" and request.files[0].data == b"\x89PNG-bytes"
    assert await sent.attachments[0].read() == b"\x89PNG-bytes"  # served back by the emulator


async def test_gateway_drop_is_resumed_and_missed_events_replayed(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    await emu.drop_gateway()
    await emu.send_message(scene.channel, scene.alice, "sent while disconnected")
    msg = await bot.wait_for("message", timeout=10)
    assert msg.content == "sent while disconnected"
    resume = await emu.wait_for_gateway_op(OP_RESUME)
    assert resume.path == "/resume"  # discord.py followed READY's resume_gateway_url
    assert resume.d["seq"] >= 1 and len(emu.gateway_frames(OP_IDENTIFY)) == 1
    await emu.send_message(scene.channel, scene.alice, "after resume")
    assert (await bot.wait_for("message", timeout=5)).content == "after resume"


async def test_reconnect_op_and_invalid_session(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    emu.request_reconnect()
    await emu.wait_for_gateway_op(OP_RESUME)
    emu.invalidate_session(resumable=False)
    await emu.wait_for_gateway_op(
        OP_IDENTIFY, lambda f: f is not emu.gateway_frames(OP_IDENTIFY)[0]
    )
    await emu.send_message(scene.channel, scene.alice, "fresh session")
    assert (await bot.wait_for("message", timeout=10)).content == "fresh session"


async def test_threads(emu: DiscordEmulator, scene: Scene, bot: EmuBot) -> None:
    channel = bot.get_channel(scene.channel.id)
    assert isinstance(channel, discord.TextChannel)
    starter = await channel.send("Scene start")
    thread = await starter.create_thread(name="The heist")
    assert thread.id == starter.id and thread.parent_id == channel.id
    await wait_until(lambda: bot.get_channel(thread.id) is not None)  # THREAD_CREATE
    private = await channel.create_thread(name="Backstage")
    assert private.type is discord.ChannelType.private_thread

    webhook = await channel.create_webhook(name="Relay")
    sent = await webhook.send("in the thread", thread=thread, username="Celeste", wait=True)
    assert emu.world.messages[sent.id].channel_id == thread.id
    assert [m.content for m in emu.messages_in(thread.id)] == ["in the thread"]
    with pytest.raises(discord.HTTPException) as info:  # discord.py has no Thread.create_webhook
        await bot.http.create_webhook(thread.id, name="nope")
    assert info.value.code == 50024

    side = emu.add_thread(scene.channel, "Side quest", owner=scene.alice.user)
    await wait_until(lambda: bot.get_channel(side.id) is not None)
    await emu.send_message(side, scene.alice, "in the side quest")
    msg = await bot.wait_for("message", timeout=5)
    assert isinstance(msg.channel, discord.Thread) and msg.channel.id == side.id


async def test_message_history_and_user_attachments(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    for i in range(5):
        await emu.send_message(scene.channel, scene.bob, f"line {i}")
    await emu.send_message(
        scene.channel,
        scene.alice,
        "see file",
        attachments=[Upload("notes.txt", b"abc", "text/plain")],
    )
    channel = bot.get_channel(scene.channel.id)
    history = [m async for m in channel.history(limit=3)]  # type: ignore[union-attr]
    assert [m.content for m in history] == ["see file", "line 4", "line 3"]
    assert await history[0].attachments[0].read() == b"abc"
    oldest = [m async for m in channel.history(limit=2, oldest_first=True)]  # type: ignore[union-attr]
    assert [m.content for m in oldest] == ["line 0", "line 1"]
