"""/character create and edit with ``avatar_url``: the real bot, the emulator, a web site on
127.0.0.1 (reached through a policy that allows loopback, swapped into the core)."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from bot.characters.avatar_fetch import AvatarFetcher
from bot.store import Database
from cogs.client import GalateaBot
from testkit.discord_emulator import DiscordEmulator, InteractionRecord, Upload
from testkit.harness import World, galatea
from tests.characters.test_avatar_fetch import image_site, loopback_or_public
from tests.common.test_images import png_claiming
from tests.support.recording_backend import RecordingBackend

EPHEMERAL = 64


def allow_the_test_site(bot: GalateaBot) -> None:
    bot.core.avatar_fetcher = AvatarFetcher(policy=loopback_or_public, timeout=2.0)


async def stored_avatar(bot: GalateaBot, world: World, name: str) -> bytes | None:
    found = await bot.core.characters.find(world.guild.id, name)
    return await bot.core.characters.avatar(found.id)


async def as_bob(
    emu: DiscordEmulator, world: World, command: str, options: dict[str, Any]
) -> InteractionRecord:
    """Bob runs ``command`` in the world's channel."""
    return await emu.invoke_command(command, options, user=world.bob, channel=world.channel)


async def create_with_form(
    emu: DiscordEmulator, world: World, name: str, persona: str, avatar_url: str
) -> InteractionRecord:
    """``/character create`` with only a name and a link, then the form filled in."""
    asked = await as_bob(emu, world, "character create", {"name": name, "avatar_url": avatar_url})
    await asked.response()
    assert asked.modal is not None
    fields = {"name": name, "persona": persona, "greeting": "", "scenario": "", "examples": ""}
    return await emu.submit_modal(None, fields, world.bob)


async def answer(record: InteractionRecord) -> str:
    """What the user was told after "thinking": the edited original response."""
    await record.response()
    await record.wait_until(lambda r: bool((r.original or {}).get("content")), 5.0)
    original = record.original
    assert original is not None and original.ephemeral
    return str(original["content"])


async def test_a_character_is_created_with_an_avatar_from_a_link(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with image_site() as site, galatea(emu, database, RecordingBackend()) as bot:
        allow_the_test_site(bot)
        created = await as_bob(
            emu,
            world,
            "character create",
            {"name": "Yunyun", "persona": "A lonely mage.", "avatar_url": site.url("/hop")},
        )
        body = await created.response()
        assert body["type"] == 5 and body["data"]["flags"] & EPHEMERAL  # thinking, privately
        assert "fetched from the link" in await answer(created)
        announced = await created.followup(0)
        assert "is ready" in announced.content and not announced.ephemeral
        avatar = await stored_avatar(bot, world, "Yunyun")
        assert avatar is not None
        assert Image.open(io.BytesIO(avatar)).size == Image.open(io.BytesIO(site.image)).size
        assert site.seen == ["/hop", "/avatar.png"]


async def test_the_form_is_filled_in_while_the_link_is_fetched(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with image_site() as site, galatea(emu, database, RecordingBackend()) as bot:
        allow_the_test_site(bot)
        submitted = await create_with_form(
            emu, world, "Wiz", "Runs a shop.", site.url("/avatar.png")
        )
        assert "fetched from the link" in await answer(submitted)
        assert await stored_avatar(bot, world, "Wiz") is not None


async def test_a_refused_link_does_not_lose_a_filled_in_form(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with image_site() as site, galatea(emu, database, RecordingBackend()) as bot:
        allow_the_test_site(bot)
        submitted = await create_with_form(emu, world, "Arue", "Writes novels.", site.url("/page"))
        told = await answer(submitted)
        assert "does not lead to an image" in told and "saved without" in told
        assert "is ready" in (await submitted.followup(0)).content
        stored = await bot.core.characters.find(world.guild.id, "Arue")
        assert stored.persona == "Writes novels." and not stored.has_avatar


async def test_a_refused_link_leaves_the_character_as_it_was(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with image_site() as site, galatea(emu, database, RecordingBackend()) as bot:
        allow_the_test_site(bot)
        made = await as_bob(
            emu,
            world,
            "character create",
            {"name": "Chomusuke", "persona": "A cat.", "avatar": Upload("c.png", site.image)},
        )
        await made.response()
        before = await bot.core.characters.find(world.guild.id, "Chomusuke")
        before_avatar = await stored_avatar(bot, world, "Chomusuke")
        assert before_avatar is not None
        for path, told in (
            ("/to-metadata", "private or local address"),
            ("/page", "does not lead to an image"),
            ("/slow.png", "took too long"),
        ):
            edited = await as_bob(
                emu,
                world,
                "character edit",
                {"character": "Chomusuke", "avatar_url": site.url(path), "nsfw": True},
            )
            assert told in await answer(edited)
        bad_scheme = await as_bob(
            emu,
            world,
            "character edit",
            {"character": "Chomusuke", "avatar_url": "file:///etc/passwd"},
        )
        assert "http://" in await answer(bad_scheme)
        assert await bot.core.characters.find(world.guild.id, "Chomusuke") == before
        assert await stored_avatar(bot, world, "Chomusuke") == before_avatar


async def test_the_default_policy_refuses_the_loopback_site(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with image_site() as site, galatea(emu, database, RecordingBackend()) as bot:
        created = await as_bob(
            emu,
            world,
            "character create",
            {"name": "Vanir", "persona": "A mask.", "avatar_url": site.url("/avatar.png")},
        )
        assert "private or local address" in await answer(created)
        assert await bot.core.characters.count(world.guild.id) == 0
        assert site.seen == []


async def test_an_upload_and_a_link_together_are_refused(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    async with image_site() as site, galatea(emu, database, RecordingBackend()) as bot:
        allow_the_test_site(bot)
        both = await as_bob(
            emu,
            world,
            "character create",
            {
                "name": "Both",
                "persona": "p",
                "avatar": Upload("b.png", site.image),
                "avatar_url": site.url("/avatar.png"),
            },
        )
        data = (await both.response())["data"]
        assert data["flags"] & EPHEMERAL and "not both" in data["content"]
        assert await bot.core.characters.count(world.guild.id) == 0
        assert site.seen == []


async def test_an_image_bomb_or_an_eps_behind_a_link_is_refused_politely(
    emu: DiscordEmulator, world: World, database: Database
) -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 6300 6300\nshowpage\n"
    async with image_site() as site, galatea(emu, database, RecordingBackend()) as bot:
        allow_the_test_site(bot)
        made = await as_bob(
            emu,
            world,
            "character create",
            {"name": "Chomusuke", "persona": "A cat.", "avatar": Upload("c.png", site.image)},
        )
        await made.response()
        before_avatar = await stored_avatar(bot, world, "Chomusuke")
        for served, told in ((png_claiming(6300, 6300), "too large"), (eps, "PNG, JPEG")):
            site.image = served  # the site answers image/png whatever it is
            edited = await as_bob(
                emu,
                world,
                "character edit",
                {"character": "Chomusuke", "avatar_url": site.url("/avatar.png")},
            )
            assert told in await answer(edited)
        assert await stored_avatar(bot, world, "Chomusuke") == before_avatar
