"""A group roleplay on the local Discord: three people, two characters, personas, the right
character answering, stop sequences for everyone else, and no character-to-character loops."""

# Polling helpers are always wrapped in asyncio.wait_for: every wait is bounded.

from __future__ import annotations

import asyncio
from typing import Any

from bot.store import Database
from bot.values import Role
from testkit.discord_emulator import DiscordEmulator, Member
from testkit.harness import World, galatea, wait_for_reply
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.support.recording_backend import RecordingBackend
from tests.support.waiting import until

DARKNESS = "A stubborn crusader who protects everyone."


async def command(
    emu: DiscordEmulator, world: World, name: str, options: dict[str, Any], user: Member
) -> dict[str, Any]:
    record = await emu.invoke_command(name, options, user=user, channel=world.channel)
    return await record.response()


async def set_up_the_scene(emu: DiscordEmulator, world: World) -> None:
    await create_aqua(emu, world, greeting="")
    created = await command(
        emu, world, "character create", {"name": "Darkness", "persona": DARKNESS}, world.alice
    )
    assert "Darkness" in created["data"]["content"]
    for who, name, description in (
        (world.alice, "Sir Alice", "a tall knight"),
        (world.bob, "Bob", "a nervous thief"),
    ):
        answer = await command(
            emu, world, "persona set", {"name": name, "description": description}, who
        )
        assert answer["data"]["flags"] & 64  # only they see it
    await start_session(emu, world)
    added = await command(emu, world, "session add", {"character": "Darkness"}, world.alice)
    assert "**Darkness** joins the scene" in added["data"]["content"]


async def settle(backend: RecordingBackend, calls: int) -> None:
    await asyncio.wait_for(until(lambda: len(backend.calls) >= calls), 5)
    await asyncio.sleep(0.3)  # time for any further (unwanted) reply to start


async def test_three_people_and_two_characters_the_named_one_answers(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(
        replies=[
            "*raises her shield* Nobody passes this door.",
            "Of course! *casts Heal* Good as new, Bob.",
            "We go down to the vault, obviously!",
            "I will lead the way.",
        ]
    )
    async with galatea(emu, database, backend) as bot:
        await set_up_the_scene(emu, world)

        await emu.send_message(world.channel, world.alice, "Darkness, guard the door.")
        first = await wait_for_reply(emu, world.channel, "Darkness")
        await emu.send_message(world.channel, world.bob, "Aqua, can you heal my arm?")
        second = await wait_for_reply(emu, world.channel, "Aqua", after=first.id)
        await emu.send_message(world.channel, world.carol, "Aqua and Darkness, what now?")
        third = await wait_for_reply(emu, world.channel, "Aqua", after=second.id)
        fourth = await wait_for_reply(emu, world.channel, "Darkness", after=third.id)
        await settle(backend, 4)
        session = (await bot.core.engine.sessions.active(world.channel.id)).session.id  # type: ignore[union-attr]
        history = await bot.core.engine.history.recent(session)

    # The channel as people see it.
    people = {p.id: p.display_name for p in (world.alice, world.bob, world.carol)}
    shown = [
        (m.author_name if m.webhook_id else people[m.author_id], m.content)
        for m in emu.messages_in(world.channel)
        if m.interaction_id is None
    ]
    assert shown == [
        ("Alice", "Darkness, guard the door."),
        ("Darkness", "*raises her shield* Nobody passes this door."),
        ("Bob", "Aqua, can you heal my arm?"),
        ("Aqua", "Of course! *casts Heal* Good as new, Bob."),
        ("Carol", "Aqua and Darkness, what now?"),
        ("Aqua", "We go down to the vault, obviously!"),
        ("Darkness", "I will lead the way."),
    ]
    assert fourth.content == "I will lead the way."
    # Four human-drawn replies, none drawn by a character: no loop.
    assert len(backend.calls) == 4

    darkness_first, aqua_heal, aqua_plan, darkness_plan = backend.calls
    # Each prompt is the speaking character's own card, with the personas present.
    assert darkness_first.prompt.startswith(f"Darkness's Persona: {DARKNESS}\n")
    assert "[Sir Alice: a tall knight]" in darkness_first.prompt
    assert darkness_first.prompt.endswith(
        "<START>\nSir Alice: Darkness, guard the door.\nDarkness:"
    )
    assert aqua_heal.prompt.startswith("Aqua's Persona: A cheerful water goddess.\n")
    assert "[Sir Alice: a tall knight]\n[Bob: a nervous thief]\n" in aqua_heal.prompt
    assert aqua_heal.prompt.endswith(
        "Sir Alice: Darkness, guard the door.\n"
        "Darkness: *raises her shield* Nobody passes this door.\n"
        "Bob: Aqua, can you heal my arm?\n"
        "Aqua:"
    )
    # The second named character sees the first one's answer to the same message.
    assert darkness_plan.prompt.endswith(
        "Carol: Aqua and Darkness, what now?\nAqua: We go down to the vault, obviously!\nDarkness:"
    )
    # Stop sequences cover every other speaker, human or character.
    for call, me, others in (
        (darkness_first, "Darkness", ("Sir Alice", "Aqua")),
        (aqua_heal, "Aqua", ("Sir Alice", "Bob", "Darkness")),
        (aqua_plan, "Aqua", ("Sir Alice", "Bob", "Carol", "Darkness")),
        (darkness_plan, "Darkness", ("Sir Alice", "Bob", "Carol", "Aqua")),
    ):
        assert {f"\n{name}:" for name in others} <= set(call.stop), call.stop
        assert f"\n{me}:" not in call.stop
    # The store knows who spoke each line.
    speakers = [(m.role, m.speaker) for m in history]
    assert speakers == [
        (Role.HUMAN, "Sir Alice"),
        (Role.CHARACTER, "Darkness"),
        (Role.HUMAN, "Bob"),
        (Role.CHARACTER, "Aqua"),
        (Role.HUMAN, "Carol"),
        (Role.CHARACTER, "Aqua"),
        (Role.CHARACTER, "Darkness"),
    ]
    # One webhook per character: alternating speakers never re-edits an avatar.
    assert len(emu.requests_matching("POST", r"^/channels/\d+/webhooks$")) == 2
    assert len(emu.requests_matching("PATCH", r"^/webhooks/\d+$")) == 2
    assert len({m.webhook_id for m in (first, second, third, fourth)}) == 2


async def test_unnamed_messages_are_bounded_and_paused_scenes_stay_quiet(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Mm."])
    async with galatea(emu, database, backend) as bot:
        await set_up_the_scene(emu, world)
        await command(emu, world, "config replies", {"per_message": 1}, world.alice)
        await emu.send_message(world.channel, world.carol, "Hello, everyone.")
        await settle(backend, 1)
        assert len(backend.calls) == 1  # one reply at most, and nobody answers it

        await command(emu, world, "session pause", {}, world.bob)  # refused: not the starter
        paused = await command(emu, world, "session pause", {}, world.alice)
        assert "paused" in paused["data"]["content"]
        await emu.send_message(world.channel, world.bob, "Aqua? Darkness?")
        await asyncio.sleep(0.3)
        assert len(backend.calls) == 1
        session = (await bot.core.engine.sessions.active(world.channel.id)).session.id  # type: ignore[union-attr]
        assert (await bot.core.engine.history.recent(session))[-1].content == "Aqua? Darkness?"

        await command(emu, world, "session resume", {}, world.alice)
        await emu.send_message(world.channel, world.bob, "Darkness?")
        await wait_for_reply(emu, world.channel, "Darkness")

        removed = await command(
            emu, world, "session remove", {"character": "Darkness"}, world.alice
        )
        assert "leaves the scene" in removed["data"]["content"]
        refused = await command(emu, world, "session remove", {"character": "Aqua"}, world.alice)
        assert refused["data"]["flags"] & 64 and "/session stop" in refused["data"]["content"]


async def test_impersonate_drafts_privately_and_posts_as_the_member(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=[" I follow Aqua into the dark.", "Stay close!"])
    async with galatea(emu, database, backend) as bot:
        await set_up_the_scene(emu, world)
        record = await emu.invoke_command(
            "impersonate", {}, user=world.carol, channel=world.channel
        )
        await record.response()
        draft = await record.followup()
        assert draft.ephemeral and "I follow Aqua into the dark." in draft.content
        assert backend.prompts[0].endswith("\nCarol:")
        assert "\nAqua:" in backend.calls[0].stop and "\nDarkness:" in backend.calls[0].stop

        button = draft["components"][0]["components"][0]["custom_id"]
        click = await emu.click_button(draft, button, world.carol)
        await click.response()
        posted = await emu.wait_for_message(
            world.channel, lambda m: m.author_name == "Carol" and m.webhook_id is not None
        )
        reply = await wait_for_reply(emu, world.channel, "Aqua", after=posted.id)
        session = (await bot.core.engine.sessions.active(world.channel.id)).session.id  # type: ignore[union-attr]
        history = await bot.core.engine.history.recent(session)
    assert posted.content == "I follow Aqua into the dark."
    assert posted.avatar_url  # the member's own avatar
    assert posted.allowed_mentions == {"parse": []}
    assert reply.content == "Stay close!"
    line = next(m for m in history if m.role is Role.HUMAN)
    assert (line.speaker, line.author_id, line.discord_message_id) == (
        "Carol",
        world.carol.id,
        posted.id,
    )


async def test_a_channel_near_discords_webhook_limit_shares_one_webhook(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    for n in range(14):  # other integrations hold 14 of the channel's 15 webhooks
        emu.world.add_webhook(world.channel, f"Other {n}", creator=world.bob.user)
    backend = RecordingBackend(replies=["Aqua here.", "Darkness here.", "Aqua again."])
    async with galatea(emu, database, backend):
        await set_up_the_scene(emu, world)
        await emu.send_message(world.channel, world.alice, "Aqua?")
        first = await wait_for_reply(emu, world.channel, "Aqua")
        await emu.send_message(world.channel, world.alice, "Darkness?")
        second = await wait_for_reply(emu, world.channel, "Darkness", after=first.id)
        await emu.send_message(world.channel, world.alice, "Aqua?")
        third = await wait_for_reply(emu, world.channel, "Aqua", after=second.id)
    assert len(emu.requests_matching("POST", r"^/channels/\d+/webhooks$")) == 1
    assert first.webhook_id == second.webhook_id == third.webhook_id
    # Sharing costs one avatar edit per change of speaker.
    assert len(emu.requests_matching("PATCH", r"^/webhooks/\d+$")) == 3


async def test_replying_to_a_characters_message_has_that_character_answer(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Hmph.", "Yes, I said that."])
    async with galatea(emu, database, backend):
        await set_up_the_scene(emu, world)
        await emu.send_message(world.channel, world.bob, "Darkness, are you ready?")
        first = await wait_for_reply(emu, world.channel, "Darkness")
        await emu.send_message(world.channel, world.carol, "Did you mean it?", reply_to=first)
        second = await wait_for_reply(emu, world.channel, "Darkness", after=first.id)
        await settle(backend, 2)
    assert second.content == "Yes, I said that."
    assert len(backend.calls) == 2
    assert backend.prompts[-1].startswith("Darkness's Persona:")


async def test_a_posted_draft_held_by_the_members_limit_tells_them_privately(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Welcome."])
    async with galatea(emu, database, backend, REPLIES_PER_USER_PER_MINUTE=1) as bot:
        await set_up_the_scene(emu, world)
        await emu.send_message(world.channel, world.carol, "Hello all!")
        await until(lambda: bool(backend.calls), timeout=5)
        await asyncio.wait_for(bot.roleplay.idle(), 5)
        before = len(backend.calls)  # one or two characters answered
        record = await emu.invoke_command(
            "impersonate", {}, user=world.carol, channel=world.channel
        )
        await record.response()
        draft = await record.followup()
        button = draft["components"][0]["components"][0]["custom_id"]
        click = await emu.click_button(draft, button, world.carol)
        await click.response()
        note = await click.followup()
        await asyncio.wait_for(bot.roleplay.idle(), 5)
    assert note.ephemeral and note.content.startswith("⏳")
    assert len(backend.calls) == before + 1  # the draft; the held line drew no reply
