"""Pydantic schemas of the card JSON as other apps write it, forgiving the usual sloppiness.

Real cards come from many editors, and many of them bend the spec: ``null`` where a string
belongs, ``character_version: 1.2`` as a number, tags as ``"a, b, c"``, ``extensions: []``
(an encoder's empty object), lorebook entries as an object keyed by id. These models accept that
and hand back clean values; what cannot be read as the field's type is a validation error.

V2 and V3 share one ``CardData`` model (V3's data object is a superset of V2's), so a V2 card
that already carries a V3 field such as ``group_only_greetings`` keeps it. Keys no spec names
land in ``model_extra`` (``extra="allow"``) and are carried through to export.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue

_OPEN = ConfigDict(extra="allow")


def _text(value: object) -> str:
    """Text fields: ``null`` means empty, numbers become their decimal text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("expected text")


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _items(value: object) -> list[object]:
    if isinstance(value, list | tuple):
        return list(value)
    raise ValueError("expected a list of text")


def _text_items(value: object) -> tuple[str, ...]:
    # A null inside a list is a hole left by an editor, not an empty greeting or tag.
    return tuple(_text(v) for v in _items(value) if v is not None)


def _greetings(value: object) -> tuple[str, ...]:
    """Greeting lists: a lone string is one greeting (greetings contain commas)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    return _text_items(value)


def _comma_list(value: object) -> tuple[str, ...]:
    """Tags and keys: a lone string is a comma-separated list."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return _text_items(value)


def _optional_comma_list(value: object) -> tuple[str, ...] | None:
    return None if value is None else _comma_list(value)


def _optional_sources(value: object) -> tuple[str, ...] | None:
    # A lone source is one URL or id, which may contain commas.
    if value is None:
        return None
    if isinstance(value, str):
        return (value,) if value else ()
    return _text_items(value)


def _object(value: object) -> object:
    """``extensions``: ``null`` or an empty array (a JSON encoder's idea of ``{}``) mean empty."""
    if value is None or value == []:
        return {}
    return value


def _or(default: object) -> BeforeValidator:
    """``null`` (or an empty string) for a field with a spec default means the default."""

    def fill(value: object) -> object:
        return default if value is None or value == "" else value

    return BeforeValidator(fill)


def _empty_is_none(value: object) -> object:
    """Optional flags: an editor's empty input box means "not set"."""
    return None if value == "" else value


def _number(value: object) -> int | float:
    """Numbers, also written as text ("5", "2.5") by sloppy editors."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number: int | float = value
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            try:
                number = float(value.strip())
            except ValueError:
                raise ValueError("expected a number") from None
    else:
        raise ValueError("expected a number")
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("expected a finite number")
    return number


def _optional_number(value: object) -> int | float | None:
    return None if value is None or value == "" else _number(value)


def _entry_id(value: object) -> int | str | None:
    """A number in V2, text in V3; other number shapes keep their value."""
    if value is None or isinstance(value, str):
        return value
    try:
        number = _number(value)
    except ValueError:
        raise ValueError("expected a number or text") from None
    return number if isinstance(number, int) else str(number)


def _position(value: object) -> str | None:
    """``before_char`` / ``after_char``; SillyTavern's numeric 0 / 1 too; anything else: unset."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        return lowered if lowered in ("before_char", "after_char") else None
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return ("before_char", "after_char")[value]
    return None


def _entries(value: object) -> object:
    """Entries as a list; an object keyed by entry id (world-info style) gives its values."""
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.values())
    return value


def _multilingual(value: object) -> object:
    if value is None:
        return None
    if value == []:  # an encoder's empty object
        return {}
    if isinstance(value, dict):
        return {str(k): _text(v) for k, v in value.items()}
    raise ValueError("expected an object of language codes to text")


Text = Annotated[str, BeforeValidator(_text)]
OptionalText = Annotated[str | None, BeforeValidator(_optional_text)]
Greetings = Annotated[tuple[str, ...], BeforeValidator(_greetings)]
CommaList = Annotated[tuple[str, ...], BeforeValidator(_comma_list)]
OptionalCommaList = Annotated[tuple[str, ...] | None, BeforeValidator(_optional_comma_list)]
Sources = Annotated[tuple[str, ...] | None, BeforeValidator(_optional_sources)]
Object = Annotated[dict[str, JsonValue], BeforeValidator(_object)]
Number = int | float
OptionalNumber = Annotated[Number | None, BeforeValidator(_optional_number)]
OptionalBool = Annotated[bool | None, BeforeValidator(_empty_is_none)]


class WireAsset(BaseModel):
    """A V3 ``assets`` item."""

    type: Text = ""
    uri: Text = ""
    name: Text = ""
    ext: Text = ""


class WireEntry(BaseModel):
    """A ``character_book.entries`` item."""

    model_config = _OPEN

    keys: CommaList = ()
    content: Text = ""
    extensions: Object = Field(default_factory=dict)
    enabled: Annotated[bool, _or(True)] = True
    insertion_order: Annotated[Number, BeforeValidator(_number), _or(0)] = 0
    case_sensitive: OptionalBool = None
    use_regex: Annotated[bool, _or(False)] = False
    constant: OptionalBool = None
    name: OptionalText = None
    priority: OptionalNumber = None
    id: Annotated[int | str | None, BeforeValidator(_entry_id)] = None
    comment: OptionalText = None
    selective: OptionalBool = None
    secondary_keys: OptionalCommaList = None
    position: Annotated[str | None, BeforeValidator(_position)] = None


class WireBook(BaseModel):
    """A ``character_book``."""

    model_config = _OPEN

    name: OptionalText = None
    description: OptionalText = None
    scan_depth: OptionalNumber = None
    token_budget: OptionalNumber = None
    recursive_scanning: OptionalBool = None
    extensions: Object = Field(default_factory=dict)
    entries: Annotated[list[WireEntry], BeforeValidator(_entries)] = Field(default_factory=list)


class CardData(BaseModel):
    """The ``data`` object of a V2 or V3 card (and the flat fields of a V1 card)."""

    model_config = _OPEN

    name: Text = ""
    description: Text = ""
    personality: Text = ""
    scenario: Text = ""
    first_mes: Text = ""
    mes_example: Text = ""
    creator_notes: Text = ""
    system_prompt: Text = ""
    post_history_instructions: Text = ""
    alternate_greetings: Greetings = ()
    character_book: WireBook | None = None
    tags: CommaList = ()
    creator: Text = ""
    character_version: Text = ""
    extensions: Object = Field(default_factory=dict)
    # V3 additions
    nickname: OptionalText = None
    creator_notes_multilingual: Annotated[dict[str, str] | None, BeforeValidator(_multilingual)] = (
        None
    )
    source: Sources = None
    group_only_greetings: Greetings = ()
    creation_date: OptionalNumber = None
    modification_date: OptionalNumber = None
    assets: list[WireAsset] | None = None


def extra_of(model: BaseModel) -> dict[str, Any]:
    """The keys of ``model``'s input that no field names, as given."""
    return dict(model.model_extra or {})
