"""A character's fields as the characters domain sees them: the draft people write, and the
specs by name.

The fields are defined once, in ``bot.values.CharacterFields``, each with its FieldSpec
(``CHARACTER_FIELDS``: label, limit, card key, form); this module and its neighbours read
them instead of naming the fields again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.values import CHARACTER_FIELDS, MAX_NAME, CharacterFields, FieldSpec

__all__ = [
    "CARD_FIELDS",
    "CHARACTER_FIELDS",
    "FORM_FIELDS",
    "MAX_NAME",
    "SPECS",
    "CharacterDraft",
    "field_values",
]

SPECS: Mapping[str, FieldSpec] = {spec.name: spec for spec in CHARACTER_FIELDS}
FORM_FIELDS = tuple(spec for spec in CHARACTER_FIELDS if spec.form is not None)
CARD_FIELDS = tuple(spec for spec in CHARACTER_FIELDS if spec.card_key is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class CharacterDraft(CharacterFields):
    """What a person typed for a new or edited character, before validation."""

    @classmethod
    def of(cls, character: CharacterFields) -> CharacterDraft:
        """The draft that leaves ``character`` as it is (the start of an edit)."""
        return cls(**field_values(character))


def field_values(character: CharacterFields) -> dict[str, Any]:
    """The character's fields by name: what the store writes for a draft."""
    return {spec.name: getattr(character, spec.name) for spec in CHARACTER_FIELDS}
