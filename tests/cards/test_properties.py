"""Property tests: whatever the bytes, only InvalidInput; whatever the valid card, a round trip.

Every test here is bounded (``max_examples``) and each example has a deadline, so the fuzzing
costs a few seconds, not minutes.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.cards import (
    Asset,
    CharacterCard,
    LoreBook,
    LoreEntry,
    export_card_json,
    export_card_png,
    parse_card,
)
from bot.errors import InvalidInput
from tests.cards.builders import (
    PNG_SIGNATURE,
    b64,
    image_png,
    join_chunks,
    split_chunks,
    to_json,
    v2_document,
    v3_document,
)

# Pillow warns about a huge header before our own check refuses it; the refusal is the test.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

FUZZ = settings(
    max_examples=150,
    deadline=timedelta(milliseconds=1500),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
ROUND_TRIP = settings(FUZZ, max_examples=60)


def parse_or_refuse(data: bytes, filename: str | None = None) -> CharacterCard | None:
    """Parse; InvalidInput (with a message) is fine, any other exception fails the test."""
    try:
        return parse_card(data, filename)
    except InvalidInput as e:
        assert e.user_message.strip()
        return None


# --- strategies ---------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=3)
texts = st.text(max_size=30)
text_tuples = st.lists(texts, max_size=3).map(tuple)
numbers = st.integers(-(10**9), 10**9) | st.floats(allow_nan=False, allow_infinity=False)
optional_bools = st.none() | st.booleans()


# A name is one line: no control characters or line/paragraph separators, never blank.
_name_chars = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))
names = st.tuples(
    st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp", "Zs")),
    st.text(alphabet=_name_chars, max_size=39),
).map(lambda parts: (parts[0] + parts[1]).strip())


def extras(reserved: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.text(min_size=1, max_size=8).filter(lambda k: k not in reserved)
    return st.dictionaries(keys, json_values, max_size=2)


entries = st.builds(
    LoreEntry,
    keys=text_tuples,
    content=texts,
    extensions=json_objects,
    enabled=st.booleans(),
    insertion_order=numbers,
    case_sensitive=optional_bools,
    use_regex=st.booleans(),
    constant=optional_bools,
    name=st.none() | texts,
    priority=st.none() | numbers,
    id=st.none() | st.integers(0, 10**6) | texts,
    comment=st.none() | texts,
    selective=optional_bools,
    secondary_keys=st.none() | text_tuples,
    position=st.none() | st.sampled_from(["before_char", "after_char"]),
    extra_fields=extras(set(LoreEntry.model_fields)),
)
books = st.builds(
    LoreBook,
    name=st.none() | texts,
    description=st.none() | texts,
    scan_depth=st.none() | numbers,
    token_budget=st.none() | numbers,
    recursive_scanning=optional_bools,
    extensions=json_objects,
    entries=st.lists(entries, max_size=3).map(tuple),
    extra_fields=extras(set(LoreBook.model_fields)),
)
assets = st.builds(Asset, type=texts, uri=texts, name=texts, ext=texts)
cards = st.builds(
    CharacterCard,
    name=names,
    description=texts,
    personality=texts,
    scenario=texts,
    first_mes=texts,
    mes_example=texts,
    alternate_greetings=text_tuples,
    system_prompt=texts,
    post_history_instructions=texts,
    creator_notes=texts,
    tags=text_tuples,
    creator=texts,
    character_version=texts,
    character_book=st.none() | books,
    extensions=json_objects,
    nickname=st.none() | texts,
    creator_notes_multilingual=st.none() | st.dictionaries(st.text(max_size=5), texts, max_size=3),
    source=st.none() | text_tuples,
    group_only_greetings=text_tuples,
    creation_date=st.none() | numbers,
    modification_date=st.none() | numbers,
    assets=st.none() | st.lists(assets, max_size=2).map(tuple),
    extra_fields=extras(set(CharacterCard.model_fields)),
    spec_version=st.just("3.0"),
    avatar_png=st.none(),
)


# --- arbitrary valid cards round-trip -----------------------------------------------------


@ROUND_TRIP
@given(card=cards, version=st.sampled_from([2, 3]))
def test_any_valid_card_round_trips_through_json(card: CharacterCard, version: int) -> None:
    again = parse_card(export_card_json(card, version))  # type: ignore[arg-type]
    assert again == card.model_copy(update={"spec_version": f"{version}.0"})


@ROUND_TRIP
@given(card=cards, version=st.sampled_from([2, 3]))
def test_any_valid_card_round_trips_through_png(card: CharacterCard, version: int) -> None:
    png = export_card_png(card, version)  # type: ignore[arg-type]
    again = parse_card(png)
    assert again.avatar_png is not None
    expected = card.model_copy(update={"spec_version": f"{version}.0"})
    assert again.model_copy(update={"avatar_png": None}) == expected
    assert export_card_png(again, version) == png  # type: ignore[arg-type]


# --- arbitrary input never raises anything but InvalidInput -------------------------------


@FUZZ
@given(data=st.binary(max_size=2048), filename=st.none() | st.sampled_from(["a.png", "a.json"]))
def test_arbitrary_bytes(data: bytes, filename: str | None) -> None:
    parse_or_refuse(data, filename)


@FUZZ
@given(tail=st.binary(max_size=2048))
def test_arbitrary_bytes_after_a_png_signature(tail: bytes) -> None:
    parse_or_refuse(PNG_SIGNATURE + tail)


@pytest.fixture(scope="module")
def card_png_chunks() -> list[tuple[bytes, bytes]]:
    png = image_png(size=(8, 6), chunks=[("ccv3", b64(v3_document()), "tEXt")])
    return split_chunks(png)


@FUZZ
@given(data=st.data())
def test_mutated_card_png_with_correct_checksums(
    card_png_chunks: list[tuple[bytes, bytes]], data: st.DataObject
) -> None:
    # Mutate inside one chunk and fix its CRC, so the damage reaches past the CRC check.
    chunks = list(card_png_chunks)
    index = data.draw(st.integers(0, len(chunks) - 1))
    cid, payload = chunks[index]
    edits = data.draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4))
    mutated = bytearray(payload)
    for position, value in edits:
        if mutated:
            mutated[position % len(mutated)] = value
    cut = data.draw(st.none() | st.integers(0, len(mutated)))
    chunks[index] = (cid, bytes(mutated[:cut] if cut is not None else mutated))
    parse_or_refuse(join_chunks(chunks))


@FUZZ
@given(data=st.data())
def test_mutated_or_truncated_png_bytes(
    card_png_chunks: list[tuple[bytes, bytes]], data: st.DataObject
) -> None:
    png = bytearray(join_chunks(card_png_chunks))
    for _ in range(data.draw(st.integers(0, 3))):
        png[data.draw(st.integers(0, len(png) - 1))] = data.draw(st.integers(0, 255))
    parse_or_refuse(bytes(png[: data.draw(st.integers(1, len(png)))]))


@FUZZ
@given(data=st.data())
def test_mutated_json_card(data: st.DataObject) -> None:
    document = bytearray(to_json(data.draw(st.sampled_from([v2_document(), v3_document()]))))
    for _ in range(data.draw(st.integers(1, 4))):
        document[data.draw(st.integers(0, len(document) - 1))] = data.draw(st.integers(0, 255))
    parse_or_refuse(bytes(document), "card.json")


@FUZZ
@given(document=json_values)
def test_arbitrary_json_documents(document: object) -> None:
    parse_or_refuse(json.dumps(document).encode(), "card.json")


CARD_KEYS = sorted(set(v3_document()["data"]))
ENTRY_KEYS = sorted(set(LoreEntry.model_fields) - {"extra_fields"})
shaped_entries = st.dictionaries(st.sampled_from(ENTRY_KEYS), json_values, max_size=6)
shaped_data = st.dictionaries(
    st.sampled_from(CARD_KEYS),
    json_values
    | st.fixed_dictionaries({}, optional={"entries": st.lists(shaped_entries, max_size=3)}),
    max_size=10,
).map(lambda d: {"name": "Fuzz", **d})


@FUZZ
@given(
    data=shaped_data,
    spec=st.sampled_from([("chara_card_v2", "2.0"), ("chara_card_v3", "3.0"), (None, None)]),
)
def test_card_shaped_documents_with_wrong_types(
    data: dict[str, Any], spec: tuple[str | None, str | None]
) -> None:
    """Fields of any JSON type: refused politely, or accepted and then exported losslessly."""
    document = {"spec": spec[0], "spec_version": spec[1], "data": data} if spec[0] else data
    card = parse_or_refuse(json.dumps(document).encode())
    event("accepted" if card is not None else "refused")
    if card is not None:
        for version in (2, 3):
            again = parse_card(export_card_json(card, version))  # type: ignore[arg-type]
            assert again == card.model_copy(update={"spec_version": f"{version}.0"})
