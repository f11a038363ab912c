"""Names that look alike are one name: invisible characters, other scripts, other cases."""

from __future__ import annotations

import pytest

from bot.characters.lookalike import looks_alike, skeleton, visible_name
from bot.characters.service import CharacterDraft, CharacterService, clean_name
from bot.errors import AlreadyExists, InvalidInput
from bot.members.personas import clean_persona_name
from bot.policy import OPERATOR, Caller
from bot.store import Database

LOOKALIKES_OF_AQUA = [
    "Aqua\u200b",  # zero-width space
    "\u202eAqua",  # right-to-left override
    "A\u2060qua",  # word joiner
    "\u0410qua",  # Cyrillic capital A
    "Aqu\u0430",  # Cyrillic small a
    "aqua",
    "\uff21\uff51\uff55\uff41",  # full-width
    "\U0001d400qua",  # mathematical bold A
]


@pytest.mark.parametrize("name", LOOKALIKES_OF_AQUA)
def test_lookalikes_share_a_skeleton(name: str) -> None:
    assert looks_alike(name, "Aqua")


def test_different_names_keep_different_skeletons() -> None:
    assert not looks_alike("Aqua", "Aria")
    assert not looks_alike("Bob", "Rob")
    assert skeleton("Zoë") == skeleton("Zoe")  # accents are not enough to tell names apart


def test_visible_name_drops_invisible_and_bidi_characters() -> None:
    assert visible_name("\u200bA\u200dq\u202eu\ufeffa\u2066 ") == "Aqua"
    assert visible_name("\u200b\u200c\u2060") == ""


def test_an_invisible_character_name_is_refused() -> None:
    with pytest.raises(InvalidInput, match="needs a name"):
        clean_name("\u200b\u200c\u2060\u3164")
    assert clean_name("Aq\u200bua") == "Aqua"


def test_a_persona_name_cannot_hide_a_colon_or_be_invisible() -> None:
    for raw in ("Aqua\uff1a", "Aqua\u2236", "Aqua\ufe55", "\u200b\u200b"):
        with pytest.raises(InvalidInput):
            clean_persona_name(raw)
    assert clean_persona_name("Bo\u200bb") == "Bob"


async def test_a_server_cannot_hold_two_characters_that_look_alike(database: Database) -> None:
    service = CharacterService(database)
    aqua = await service.create(
        1, 10, CharacterDraft(name="Aqua", persona="Goddess."), caller=OPERATOR
    )
    for name in ("\u0410qua", "Aqu\u0430\u200b", "\u0391QUA"):
        with pytest.raises(AlreadyExists, match="looks the same"):
            await service.create(
                1, 10, CharacterDraft(name=name, persona="Impostor."), caller=OPERATOR
            )
    with pytest.raises(AlreadyExists):  # the same name in another case: the store says so
        await service.create(
            1, 10, CharacterDraft(name="AQUA", persona="Impostor."), caller=OPERATOR
        )
    other_server = await service.create(
        2, 10, CharacterDraft(name="\u0410qua", persona="Fine."), caller=OPERATOR
    )
    assert other_server.name == "\u0410qua"
    darkness = await service.create(
        1, 10, CharacterDraft(name="Darkness", persona="Knight."), caller=OPERATOR
    )
    owner = Caller(user_id=10, display_name="Owner")
    with pytest.raises(AlreadyExists):
        await service.update(
            darkness.id, CharacterDraft(name="Aqu\u0430", persona="x"), caller=owner
        )
    renamed = await service.update(aqua.id, CharacterDraft(name="AQUA", persona="G."), caller=owner)
    assert renamed.name == "AQUA"
    assert await service.count(1) == 2
    with pytest.raises(AlreadyExists, match="looks the same"):  # nor from a card
        card = b'{"name": "D", "description": "Knight."}'
        await service.replace_from_card(
            1, "Darkness", card, "d.json", name="\u0391qua", caller=owner
        )
    assert (await service.find(1, "Darkness")).persona == "Knight."
