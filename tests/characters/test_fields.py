"""One definition of a character's fields: the draft, the store, the card mapping and the
Discord form all follow bot.values.CHARACTER_FIELDS; the service holds every change to the
rules in bot.policy."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest

from bot.cards import parse_card
from bot.characters.card_io import card_for_export, card_texts
from bot.characters.fields import CARD_FIELDS, FORM_FIELDS, CharacterDraft, field_values
from bot.characters.service import CharacterService
from bot.errors import InvalidInput, PermissionDenied
from bot.guilds.config import GuildConfigService, Setting
from bot.policy import OPERATOR, Caller
from bot.store import Database
from bot.store.characters import EDITABLE_FIELDS
from bot.store.models import CharacterRow
from bot.values import CHARACTER_FIELDS, Character, CharacterFields
from tests.cards.builders import to_json, v2_document

OWNER = Caller(user_id=10, display_name="Owner")
STRANGER = Caller(user_id=11, display_name="Stranger")
ADMIN = Caller(user_id=12, display_name="Admin", is_admin=True)


def test_every_field_has_a_spec_a_column_and_a_place_in_a_stored_character() -> None:
    names = [spec.name for spec in CHARACTER_FIELDS]
    assert names == [f.name for f in dataclasses.fields(CharacterFields)]
    assert set(names) <= {f.name for f in dataclasses.fields(Character)}
    assert set(names) <= set(CharacterRow.__table__.c.keys())
    assert set(names) <= EDITABLE_FIELDS
    assert all(spec.label and spec.label == spec.label.strip() for spec in CHARACTER_FIELDS)


def test_the_form_fits_what_discord_allows() -> None:
    assert 1 <= len(FORM_FIELDS) <= 5  # five inputs a form
    for spec in FORM_FIELDS:
        assert spec.form is not None and spec.max_length is not None
        assert len(spec.form.label) <= 45
        assert spec.form.max_length <= min(4000, spec.max_length)
    assert len({spec.form.custom_id or spec.name for spec in FORM_FIELDS if spec.form}) == len(
        FORM_FIELDS
    )


def test_a_draft_of_a_character_keeps_every_field() -> None:
    character = Character(
        id=1,
        guild_id=1,
        owner_id=1,
        name="Aqua",
        persona="Goddess.",
        alternate_greetings=("Hi",),
        post_history_instructions="Stay.",
        talkativeness=0.3,
    )
    draft = CharacterDraft.of(character)
    assert field_values(draft) == field_values(character)


def test_a_card_gives_each_field_that_has_a_card_key_and_takes_it_back() -> None:
    card = parse_card(to_json(v2_document(name="Lyra")))
    texts = card_texts(card)
    assert set(texts) == {spec.name for spec in CARD_FIELDS}
    exported = card_for_export(CharacterDraft(**texts), None, None, None)
    assert card_texts(exported) == {**texts, "persona": card.persona}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("post_history_instructions", "x" * 8001, "post-history instructions is 8,001"),
        ("alternate_greetings", ("ok", "y" * 8001), "alternate greeting 2 is 8,001"),
        ("talkativeness", 1.5, "Talkativeness goes from 0"),
    ],
)
async def test_limits_come_from_the_field_specs(
    database: Database, field: str, value: object, message: str
) -> None:
    draft = replace(CharacterDraft(name="Aqua", persona="Goddess."), **{field: value})
    with pytest.raises(InvalidInput, match=message):
        await CharacterService(database).create(1, 10, draft, caller=OPERATOR)


async def test_only_its_creator_or_an_admin_changes_or_deletes_a_character(
    database: Database,
) -> None:
    service = CharacterService(database)
    aqua = await service.create(
        1, OWNER.user_id, CharacterDraft(name="Aqua", persona="Goddess."), caller=OWNER
    )
    edited = replace(CharacterDraft.of(aqua), persona="A goddess of water.")
    card = to_json(v2_document(name="Aqua"))
    for refused in (
        service.update(aqua.id, edited, caller=STRANGER),
        service.delete(aqua.id, caller=STRANGER),
        service.replace_from_card(1, "Aqua", card, "a.json", caller=STRANGER),
        service.find_changeable(1, "Aqua", caller=STRANGER),
    ):
        with pytest.raises(PermissionDenied):
            await refused
    assert (await service.get(aqua.id)).persona == "Goddess."
    assert (await service.update(aqua.id, edited, caller=ADMIN)).persona == "A goddess of water."
    assert (await service.delete(aqua.id, caller=OWNER)).id == aqua.id


async def test_creator_roles_hold_for_creating_and_importing(database: Database) -> None:
    await GuildConfigService(database).update(1, {Setting.CREATOR_ROLES: (7,)}, caller=OPERATOR)
    service = CharacterService(database)
    draft = CharacterDraft(name="Aqua", persona="Goddess.")
    with pytest.raises(PermissionDenied):
        await service.create(1, STRANGER.user_id, draft, caller=STRANGER)
    with pytest.raises(PermissionDenied):
        await service.import_card(1, STRANGER.user_id, b"not even a card", caller=STRANGER)
    member = Caller(user_id=13, display_name="Member", role_ids=frozenset({7}))
    assert (await service.create(1, member.user_id, draft, caller=member)).owner_id == 13
