"""The character card as Galatea holds it: one frozen, typed value for every card version.

``CharacterCard`` carries every field of the V1, V2 and V3 specs, the card's lorebook as
``LoreBook`` / ``LoreEntry``, the ``extensions`` objects verbatim, and the keys no spec
names (``extra_fields``) so that exporting a card loses nothing it came with.

Optional spec fields are ``None`` when the card did not have them, so an export writes back
exactly what was there. Every card is checked against the limits in ``bot.cards.limits``
when it is built, whoever builds it; a card over a limit raises ``InvalidInput``.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from bot.cards import limits
from bot.errors import InvalidInput

JsonObject = dict[str, JsonValue]
SpecVersion = Literal["1.0", "2.0", "3.0"]
Position = Literal["before_char", "after_char"]

# frozen: a parsed card is a value; extra="forbid": a typo in a field name is a bug, not data.
_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Asset(BaseModel):
    """One V3 asset descriptor (icon, background, emotion, ...); the asset itself is not fetched."""

    model_config = _FROZEN

    type: str
    uri: str
    name: str
    ext: str


class LoreEntry(BaseModel):
    """One entry of a character's lorebook (``character_book.entries[i]``)."""

    model_config = _FROZEN

    keys: tuple[str, ...] = ()
    content: str = ""
    extensions: JsonObject = Field(default_factory=dict)
    enabled: bool = True
    insertion_order: int | float = 0
    case_sensitive: bool | None = None
    use_regex: bool = False  # V3; V2 cards leave it out, meaning False
    constant: bool | None = None
    name: str | None = None
    priority: int | float | None = None
    id: int | str | None = None  # a number in V2, a string in V3
    comment: str | None = None
    selective: bool | None = None
    secondary_keys: tuple[str, ...] | None = None
    position: Position | None = None
    extra_fields: JsonObject = Field(default_factory=dict)

    @field_validator("extra_fields")
    @classmethod
    def _no_spec_keys(cls, value: JsonObject) -> JsonObject:
        return _unclaimed(value, _ENTRY_KEYS)


class LoreBook(BaseModel):
    """A character's own lorebook (``character_book``)."""

    model_config = _FROZEN

    name: str | None = None
    description: str | None = None
    scan_depth: int | float | None = None
    token_budget: int | float | None = None
    recursive_scanning: bool | None = None
    extensions: JsonObject = Field(default_factory=dict)
    entries: tuple[LoreEntry, ...] = ()
    extra_fields: JsonObject = Field(default_factory=dict)

    @field_validator("extra_fields")
    @classmethod
    def _no_spec_keys(cls, value: JsonObject) -> JsonObject:
        return _unclaimed(value, _BOOK_KEYS)


class CharacterCard(BaseModel):
    """A TavernAI / SillyTavern character card of any spec version.

    ``spec_version`` says which spec the card was read from ("1.0", "2.0" or "3.0").
    ``avatar_png`` is the card's image as a clean PNG (no card chunks), or ``None`` for a JSON
    card. ``extensions`` and ``extra_fields`` hold what other apps stored; treat them as
    read-only (pydantic freezes the attributes, not the dicts inside them).
    """

    model_config = _FROZEN

    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    mes_example: str = ""
    alternate_greetings: tuple[str, ...] = ()
    system_prompt: str = ""
    post_history_instructions: str = ""
    creator_notes: str = ""
    tags: tuple[str, ...] = ()
    creator: str = ""
    character_version: str = ""
    character_book: LoreBook | None = None
    extensions: JsonObject = Field(default_factory=dict)
    # V3 additions
    nickname: str | None = None
    creator_notes_multilingual: dict[str, str] | None = None
    source: tuple[str, ...] | None = None
    group_only_greetings: tuple[str, ...] = ()
    creation_date: int | float | None = None
    modification_date: int | float | None = None
    assets: tuple[Asset, ...] | None = None
    # keys of the card's data object that no spec names, kept for export
    extra_fields: JsonObject = Field(default_factory=dict)
    spec_version: SpecVersion = "3.0"
    avatar_png: bytes | None = Field(default=None, repr=False)

    @property
    def display_name(self) -> str:
        """The name ``{{char}}`` stands for: the V3 nickname when there is one, else the name."""
        return self.nickname if self.nickname else self.name

    @property
    def persona(self) -> str:
        """Description, then personality, the way SillyTavern's default story string has it.

        The description comes as is, then the personality summary on its own line as
        ``{{char}}'s personality: ...``; either part is left out when empty (surrounding
        whitespace trimmed). The result still contains macros: run it through
        ``substitute_macros`` like the rest of the card's text.
        """
        description = self.description.strip()
        personality = self.personality.strip()
        if not personality:
            return description
        line = f"{{{{char}}}}'s personality: {personality}"
        return f"{description}\n{line}" if description else line

    def replace(self, **changes: Any) -> CharacterCard:
        """A copy with ``changes`` applied and validated (``model_copy`` skips validation)."""
        return CharacterCard.model_validate({**self.model_dump(), **changes})

    @field_validator("name")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        # Stray spaces around a name are editor noise; trimming keeps import/export stable.
        return value.strip()

    @field_validator("extra_fields")
    @classmethod
    def _no_spec_keys(cls, value: JsonObject) -> JsonObject:
        return _unclaimed(value, _CARD_KEYS)

    @model_validator(mode="after")
    def _within_limits(self) -> CharacterCard:
        # InvalidInput is not a ValueError, so pydantic lets it through unchanged.
        _check_card(self)
        return self


_NOT_DATA = frozenset({"extra_fields", "spec_version", "avatar_png"})
_ENTRY_KEYS = frozenset(LoreEntry.model_fields) - _NOT_DATA
_BOOK_KEYS = frozenset(LoreBook.model_fields) - _NOT_DATA
_CARD_KEYS = frozenset(CharacterCard.model_fields) - _NOT_DATA


def _unclaimed(extra: JsonObject, spec_keys: frozenset[str]) -> JsonObject:
    """Extra fields are keys no spec names; a spec key there would shadow the real field."""
    clash = spec_keys.intersection(extra)
    if clash:
        raise ValueError(f"extra_fields may not hold spec fields: {sorted(clash)}")
    return extra


class _Budget:
    """Counts every character of a card against ``MAX_TOTAL_CHARS``."""

    def __init__(self) -> None:
        self.total = 0

    def text(self, label: str, value: str | None, limit: int = limits.MAX_TEXT_CHARS) -> None:
        if value is None:
            return
        if len(value) > limit:
            raise InvalidInput(
                f"The character card's {label} is too long: {len(value):,} characters "
                f"(the limit is {limit:,})."
            )
        self.add(len(value))

    def texts(self, label: str, values: Iterable[str] | None, item: str) -> None:
        if values is None:
            return
        values = tuple(values)
        if len(values) > limits.MAX_LIST_ITEMS:
            raise InvalidInput(
                f"The character card has too many {label}: {len(values):,} "
                f"(the limit is {limits.MAX_LIST_ITEMS:,})."
            )
        for i, value in enumerate(values, start=1):
            self.text(f"{item} {i}", value)

    def json(self, label: str, value: JsonObject) -> None:
        if not value:
            return
        if json_depth(value) > limits.MAX_JSON_DEPTH:
            raise InvalidInput(f"The character card's {label} are nested too deeply.")
        self.add(len(json.dumps(value, ensure_ascii=False)))

    def add(self, n: int) -> None:
        self.total += n
        if self.total > limits.MAX_TOTAL_CHARS:
            raise InvalidInput(
                "The character card is too large overall: more than "
                f"{limits.MAX_TOTAL_CHARS:,} characters of text together."
            )


_TEXT_FIELDS = {
    "description": "description",
    "personality": "personality",
    "scenario": "scenario",
    "first_mes": "first message (first_mes)",
    "mes_example": "example dialogue (mes_example)",
    "system_prompt": "system prompt",
    "post_history_instructions": "post-history instructions",
    "creator_notes": "creator notes",
    "creator": "creator",
    "character_version": "character version",
    "nickname": "nickname",
}


def _check_card(card: CharacterCard) -> None:
    _check_name(card.name)
    budget = _Budget()
    budget.add(len(card.name))
    for field, label in _TEXT_FIELDS.items():
        budget.text(label, getattr(card, field))
    budget.texts("alternate greetings", card.alternate_greetings, "alternate greeting")
    budget.texts("group-only greetings", card.group_only_greetings, "group-only greeting")
    budget.texts("tags", card.tags, "tag")
    budget.texts("sources", card.source, "source")
    if card.creator_notes_multilingual is not None:
        notes = card.creator_notes_multilingual
        budget.texts("creator-notes languages", notes.keys(), "creator-notes language")
        for lang, text in notes.items():
            budget.text(f"creator notes in {lang[:20]!r}", text)
    if card.assets is not None:
        budget.texts("assets", (a.uri for a in card.assets), "asset URI")
        for a in card.assets:
            budget.add(len(a.type) + len(a.name) + len(a.ext))
    budget.json("extensions", card.extensions)
    budget.json("extra fields", card.extra_fields)
    if card.character_book is not None:
        _check_book(card.character_book, budget)


def _check_name(name: str) -> None:
    if not name.strip():
        raise InvalidInput("The character card has no name.")
    if len(name) > limits.MAX_NAME_CHARS:
        raise InvalidInput(
            f"The character card's name is too long: {len(name):,} characters "
            f"(the limit is {limits.MAX_NAME_CHARS})."
        )
    # A line break or control character in a name would break "Name: text" prompt lines.
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
        raise InvalidInput(
            "The character card's name must be one line of text, without control characters."
        )


def _check_book(book: LoreBook, budget: _Budget) -> None:
    if len(book.entries) > limits.MAX_LORE_ENTRIES:
        raise InvalidInput(
            f"The character card's lorebook has too many entries: {len(book.entries):,} "
            f"(the limit is {limits.MAX_LORE_ENTRIES:,})."
        )
    budget.text("lorebook name", book.name)
    budget.text("lorebook description", book.description)
    budget.json("lorebook extensions", book.extensions)
    budget.json("lorebook extra fields", book.extra_fields)
    for i, entry in enumerate(book.entries, start=1):
        where = f"lorebook entry {i}"
        budget.text(f"{where} content", entry.content)
        budget.text(f"{where} name", entry.name)
        budget.text(f"{where} comment", entry.comment)
        budget.texts(f"keys in {where}", entry.keys, f"{where} key")
        budget.texts(f"secondary keys in {where}", entry.secondary_keys, f"{where} secondary key")
        if isinstance(entry.id, str):
            budget.text(f"{where} id", entry.id)
        budget.json(f"{where} extensions", entry.extensions)
        budget.json(f"{where} extra fields", entry.extra_fields)


def json_depth(value: object) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0); iterative, so safe."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > limits.MAX_JSON_DEPTH:
                return deepest  # no need to walk the rest
        stack.extend((child, depth) for child in children)
    return deepest
