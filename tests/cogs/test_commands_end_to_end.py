"""Slash commands end to end: characters, sessions, configuration, refusals."""

from __future__ import annotations

import io
import json

from PIL import Image

from bot.guilds.config import Setting
from bot.policy import OPERATOR
from bot.store import Database
from testkit.discord_emulator import DiscordEmulator, Upload
from testkit.harness import World, galatea, is_character_message, wait_for_reply
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.support.recording_backend import RecordingBackend


def png(color: str = "blue", size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, format="PNG")
    return out.getvalue()


async def test_quick_create_with_avatar_autocomplete_show_and_list(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        created = await emu.invoke_command(
            "character create",
            {"name": "Megumin", "persona": "An explosion mage.", "avatar": Upload("m.png", png())},
            user=world.bob,
            channel=world.channel,
        )
        assert "is ready" in (await created.response())["data"]["content"]
        for name in ("Aqua", "Darkness"):
            record = await emu.invoke_command(
                "character create",
                {"name": name, "persona": "p"},
                user=world.bob,
                channel=world.channel,
            )
            await record.response()
        suggestions = await emu.autocomplete(
            "character show",
            {"character": "me"},
            "character",
            user=world.alice,
            channel=world.channel,
        )
        await suggestions.response()
        assert [c["name"] for c in suggestions.choices or []] == ["Megumin"]

        shown = await emu.invoke_command(
            "character show", {"character": "megumin"}, user=world.alice, channel=world.channel
        )
        body = await shown.response()
        assert body["data"]["embeds"][0]["title"] == "Megumin"
        stored = await bot.core.characters.find(world.guild.id, "Megumin")
        avatar = await bot.core.characters.avatar(stored.id)
        assert avatar is not None and Image.open(io.BytesIO(avatar)).format == "PNG"

        listed = await emu.invoke_command(
            "character list", {}, user=world.alice, channel=world.channel
        )
        text = (await listed.response())["data"]["embeds"][0]["description"]
        assert text.index("Aqua") < text.index("Darkness") < text.index("Megumin")


async def test_duplicate_names_and_bad_avatars_are_refused_politely(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        await create_aqua(emu, world)
        again = await emu.invoke_command(
            "character create",
            {"name": "aqua", "persona": "x"},
            user=world.bob,
            channel=world.channel,
        )
        answer = (await again.response())["data"]
        assert answer["flags"] & 64 and "already exists" in answer["content"]
        broken = await emu.invoke_command(
            "character create",
            {"name": "Broken", "persona": "x", "avatar": Upload("b.png", b"\x89PNG not really")},
            user=world.bob,
            channel=world.channel,
        )
        answer = (await broken.response())["data"]
        assert answer["flags"] & 64 and "image" in answer["content"]
        assert await bot.core.characters.count(world.guild.id) == 1


async def test_only_the_owner_or_an_admin_deletes_a_character(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend()) as bot:
        made = await emu.invoke_command(
            "character create",
            {"name": "Bobs", "persona": "p"},
            user=world.bob,
            channel=world.channel,
        )
        await made.response()
        refused = await emu.invoke_command(
            "character delete", {"character": "Bobs"}, user=world.carol, channel=world.channel
        )
        assert "creator or a server admin" in (await refused.response())["data"]["content"]
        asked = await emu.invoke_command(
            "character delete", {"character": "Bobs"}, user=world.alice, channel=world.channel
        )
        await asked.response()
        question = asked.original
        assert question is not None
        confirm = next(
            c["custom_id"]
            for row in question["components"]
            for c in row["components"]
            if c["label"].startswith("Delete")
        )
        click = await emu.click_button(question, confirm, world.alice)
        await click.response()
        await asked.wait_until(lambda r: "was deleted" in (r.original or {}).get("content", ""))
        assert await bot.core.characters.count(world.guild.id) == 0


async def test_session_in_a_new_thread_status_export_and_stop(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["In the thread."])
    async with galatea(emu, database, backend) as bot:
        await create_aqua(emu, world, greeting="Welcome to the thread, {{user}}.")
        started = await emu.invoke_command(
            "session start",
            {"character": "Aqua", "thread": True},
            user=world.alice,
            channel=world.channel,
        )
        await started.response()
        await started.followup()
        thread = next(c for c in emu.world.channels.values() if c.is_thread)
        greeting = await wait_for_reply(emu, thread, "Aqua")
        assert greeting.content == "Welcome to the thread, Alice."
        await emu.send_message(thread, world.bob, "Hello in here!")
        await wait_for_reply(emu, thread, "Aqua", after=greeting.id)

        status = await emu.invoke_command("session status", {}, user=world.bob, channel=thread)
        fields = {
            f["name"]: f["value"] for f in (await status.response())["data"]["embeds"][0]["fields"]
        }
        assert fields["Messages stored"] == "3" and "recording-model" in fields["Model"]

        exported = await emu.invoke_command("session export", {}, user=world.bob, channel=thread)
        await exported.response()
        files = (await exported.followup()).files
        by_name = {f.filename.rsplit(".", 1)[1]: f.data for f in files}
        assert "Bob: Hello in here!" in by_name["txt"].decode()
        assert [m["speaker"] for m in json.loads(by_name["json"])["messages"]] == [
            "Aqua",
            "Bob",
            "Aqua",
        ]

        refused = await emu.invoke_command("session stop", {}, user=world.carol, channel=thread)
        assert "started this roleplay" in (await refused.response())["data"]["content"]
        stopped = await emu.invoke_command("session stop", {}, user=world.alice, channel=thread)
        await stopped.response()
        assert await bot.core.engine.sessions.active(thread.id) is None


async def test_reset_clears_history_and_greets_again(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with galatea(emu, database, RecordingBackend(replies=["Sure."])) as bot:
        await create_aqua(emu, world)
        await start_session(emu, world)
        greeting = await wait_for_reply(emu, world.channel, "Aqua")
        await emu.send_message(world.channel, world.bob, "Remember this.")
        await wait_for_reply(emu, world.channel, "Aqua", after=greeting.id)
        asked = await emu.invoke_command(
            "session reset", {}, user=world.alice, channel=world.channel
        )
        await asked.response()
        assert asked.original is not None
        confirm = next(
            c["custom_id"]
            for row in asked.original["components"]
            for c in row["components"]
            if c["label"].startswith("Clear")
        )
        await (await emu.click_button(asked.original, confirm, world.alice)).response()
        view = await bot.core.engine.sessions.active(world.channel.id)
        assert view is not None
        await emu.wait_for_message(
            world.channel, lambda m: m.content == "Hello Alice!" and m.id > greeting.id
        )
        history = await bot.core.engine.history.recent(view.session.id)
        assert [m.content for m in history] == ["Hello Alice!"]


async def test_nsfw_character_plays_only_in_age_restricted_channels(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    adult = emu.add_text_channel(world.guild, "after-dark", nsfw=True)
    backend = RecordingBackend(replies=["*winks*"])
    async with galatea(emu, database, backend) as bot:
        made = await emu.invoke_command(
            "character create",
            {"name": "Vamp", "persona": "A flirt.", "nsfw": True},
            user=world.alice,
            channel=world.channel,
        )
        await made.response()
        refused = await emu.invoke_command(
            "session start", {"character": "Vamp"}, user=world.alice, channel=world.channel
        )
        answer = (await refused.response())["data"]
        assert answer["flags"] & 64 and "age-restricted" in answer["content"]
        ok = await emu.invoke_command(
            "session start", {"character": "Vamp"}, user=world.alice, channel=adult
        )
        await ok.response()
        await ok.followup()
        await emu.send_message(adult, world.bob, "Hi.")
        await wait_for_reply(emu, adult, "Vamp")
        # The rule is checked again when the character is about to speak.
        emu.set_nsfw(adult, False)
        await emu.send_message(adult, world.bob, "Still there?")
        warning = await emu.wait_for_message(adult, lambda m: "age-restricted" in m.content)
        assert warning.author_id == emu.bot.id
        assert len(backend.calls) == 1
        assert bot.core is not None


async def test_mention_mode_answers_only_when_named_mentioned_or_replied_to(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["You called?"])
    async with galatea(emu, database, backend) as bot:
        await bot.core.guild_config.update(
            world.guild.id, {Setting.REPLY_MODE: "mention"}, caller=OPERATOR
        )
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.bob, "Just chatting with Carol.")
        await emu.send_message(world.channel, world.carol, "Sure, Bob.")
        named = await emu.send_message(world.channel, world.bob, "What do you think, aqua?")
        reply = await wait_for_reply(emu, world.channel, "Aqua")
        await emu.send_message(world.channel, world.carol, "Nice.", reply_to=reply)
        await wait_for_reply(emu, world.channel, "Aqua", after=reply.id)
    assert len(backend.calls) == 2, backend.prompts
    assert "Bob: Just chatting with Carol." in backend.prompts[0]
    assert backend.prompts[0].endswith("Bob: What do you think, aqua?\nAqua:")
    assert named.id > 0


async def test_a_long_reply_is_split_at_sentences(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    long_reply = " ".join(f"Sentence number {i} is here." for i in range(150))  # ~4,000 chars
    async with galatea(emu, database, RecordingBackend(replies=[long_reply]), MAX_NEW_TOKENS=1024):
        await create_aqua(emu, world, greeting="")
        await start_session(emu, world)
        await emu.send_message(world.channel, world.alice, "Tell me everything.")
        last = await wait_for_reply(emu, world.channel, "Aqua", timeout=15)
        pieces = [m for m in emu.messages_in(world.channel) if is_character_message("Aqua")(m)]
    assert len(pieces) >= 2 and all(len(p.content) <= 2000 for p in pieces)
    assert " ".join(p.content for p in pieces) == long_reply
    assert last.id == pieces[-1].id  # the buttons sit on the last piece
