"""/memory through the real bot and the local Discord: pin, show, unpin, edit, off."""

from __future__ import annotations

from bot.store import Database
from testkit.discord_emulator import DiscordEmulator
from testkit.discord_emulator.interaction_payloads import MODAL_SUBMIT, InteractionPayloads
from testkit.harness import World, galatea, wait_for_reply
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.support.recording_backend import RecordingBackend


async def answer(emu: DiscordEmulator, world: World, who, command: str, **options):  # type: ignore[no-untyped-def]
    record = await emu.invoke_command(f"memory {command}", options, user=who, channel=world.channel)
    return record, await record.response()


async def test_members_pin_show_unpin_and_the_starter_edits_the_summary(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    backend = RecordingBackend(replies=["Indeed."])
    async with galatea(emu, database, backend) as bot:
        _, none_yet = await answer(emu, world, world.bob, "show")
        assert "no roleplay in this channel" in none_yet["data"]["content"]
        await create_aqua(emu, world)
        await start_session(emu, world)
        greeting = await wait_for_reply(emu, world.channel, "Aqua")

        _, pinned = await answer(
            emu, world, world.bob, "pin", text="@everyone The key is under the oak."
        )
        assert pinned["data"]["content"] == "📌 Pinned: @everyone The key is under the oak."
        assert not pinned["data"].get("flags", 0) & 64  # said in the channel...
        assert pinned["data"]["allowed_mentions"]["parse"] == []  # ...without pinging anyone
        await answer(emu, world, world.alice, "pin", text="Alice is a princess.")

        _, refused = await answer(emu, world, world.bob, "unpin", number=2)
        assert refused["data"]["flags"] & 64 and "Only whoever pinned" in refused["data"]["content"]
        _, shown = await answer(emu, world, world.carol, "show")
        assert shown["data"]["flags"] & 64
        fields = shown["data"]["embeds"][0]["fields"]
        assert "1. @everyone The key is under the oak.\n2. Alice is a princess." in [
            f["value"] for f in fields
        ]

        _, denied = await answer(emu, world, world.bob, "edit")
        assert "Only whoever started this roleplay" in denied["data"]["content"]
        opened, _ = await answer(emu, world, world.alice, "edit")
        assert opened.modal is not None and opened.modal["custom_id"].startswith("galatea:memory:")
        forged = emu._interact(
            MODAL_SUBMIT,
            {
                "custom_id": opened.modal["custom_id"],
                "components": InteractionPayloads.modal_submission(
                    opened.modal, {"summary": "Stolen."}
                ),
            },
            world.bob,
            world.channel,
        )
        assert "someone else's" in (await forged.response())["data"]["content"]
        done = await emu.submit_modal(
            None, {"summary": "Alice and Bob met Aqua at the well."}, world.alice, opened_by=opened
        )
        assert "summary was updated" in (await done.response())["data"]["content"]

        await emu.send_message(world.channel, world.bob, "Where is the key?")
        await wait_for_reply(emu, world.channel, "Aqua", after=greeting.id)
        prompt = backend.prompts[-1]
        assert "[Earlier in the story: Alice and Bob met Aqua at the well.]" in prompt
        assert "[Remember: Alice is a princess.]" in prompt

        _, off = await answer(emu, world, world.alice, "off")
        assert off["data"]["content"].startswith("Memory is off")
        memory = await bot.core.memory.show(
            (await bot.core.engine.sessions.active(world.channel.id)).session.id  # type: ignore[union-attr]
        )
    assert not memory.enabled and [p.text for p in memory.pins] == [
        "@everyone The key is under the oak.",
        "Alice is a princess.",
    ]
