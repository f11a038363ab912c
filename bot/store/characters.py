"""Characters of a server: create, find, list, edit, delete."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import AlreadyExists, NotFound
from bot.store.models import CharacterRow
from bot.store.text import storable
from bot.values import (
    CHARACTER_FIELDS,
    Character,
    CharacterFields,
    ExampleMode,
    FieldKind,
    FieldSpec,
)

# Beside the character's fields: the images and the card JSON an imported character keeps.
EDITABLE_FIELDS = frozenset(
    {spec.name for spec in CHARACTER_FIELDS} | {"avatar_png", "card_json", "card_image_png"}
)
_SPECS = {spec.name: spec for spec in CHARACTER_FIELDS}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(CharacterFields)}


def name_key(name: str) -> str:
    """Names are unique per server regardless of case and surrounding spaces."""
    return " ".join(name.split()).casefold()


# Every column a prompt needs: not the avatar image nor the card document.
PROMPT_COLUMNS = [
    column
    for column in CharacterRow.__table__.c
    if column.name not in ("avatar_png", "card_json", "card_image_png")
]


def character_value(row: Any, *, has_avatar: bool | None = None) -> Character:
    """A character from its row (an ORM object, or plain columns with ``has_avatar``)."""
    return Character(
        id=row.id,
        guild_id=row.guild_id,
        owner_id=row.owner_id,
        has_avatar=row.avatar_png is not None if has_avatar is None else has_avatar,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **{spec.name: _from_column(spec, getattr(row, spec.name)) for spec in CHARACTER_FIELDS},
    )


def _from_column(spec: FieldSpec, value: Any) -> Any:
    if spec.kind is FieldKind.TEXTS:
        return tuple(value or ())
    if spec.kind is FieldKind.CHOICE:
        return ExampleMode(value)
    return _DEFAULTS[spec.name] if value is None else value


def _to_column(spec: FieldSpec | None, value: Any) -> Any:
    """A field's value as its column holds it (texts without NUL, PostgreSQL refuses it)."""
    if spec is not None and spec.kind is FieldKind.TEXTS:
        return [storable(text) for text in value]
    if spec is not None and spec.kind is FieldKind.CHOICE:
        return ExampleMode(value).value
    return storable(value) if isinstance(value, str) else value


class CharacterStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(
        self,
        *,
        guild_id: int,
        owner_id: int,
        fields: CharacterFields,
        avatar_png: bytes | None = None,
        card_json: dict[str, object] | None = None,
        card_image_png: bytes | None = None,
    ) -> Character:
        name = fields.name
        if await self.get_by_name(guild_id, name) is not None:
            raise AlreadyExists(f"A character named {name!r} already exists on this server.")
        row = CharacterRow(
            guild_id=guild_id,
            owner_id=owner_id,
            name_key=name_key(name),
            avatar_png=avatar_png,
            card_json=card_json,
            card_image_png=card_image_png,
            **{
                spec.name: _to_column(spec, getattr(fields, spec.name)) for spec in CHARACTER_FIELDS
            },
        )
        self._session.add(row)
        try:
            await self._session.flush()
        except IntegrityError as exc:  # a concurrent create won the race
            raise AlreadyExists(
                f"A character named {name!r} already exists on this server."
            ) from exc
        return character_value(row)

    async def get(self, character_id: int) -> Character | None:
        return (await self.many([character_id])).get(character_id)

    async def many(self, character_ids: Collection[int]) -> dict[int, Character]:
        """The characters by id, read as plain rows without their avatar images (every reply
        reads its scene's characters; an avatar can be hundreds of kilobytes)."""
        if not character_ids:
            return {}
        table = CharacterRow.__table__
        has_avatar = table.c.avatar_png.is_not(None).label("has_avatar")
        rows = await self._session.execute(
            select(*PROMPT_COLUMNS, has_avatar).where(table.c.id.in_(set(character_ids)))
        )
        return {row.id: character_value(row, has_avatar=row.has_avatar) for row in rows.all()}

    async def get_by_name(self, guild_id: int, name: str) -> Character | None:
        row = await self._session.scalar(
            select(CharacterRow).where(
                CharacterRow.guild_id == guild_id, CharacterRow.name_key == name_key(name)
            )
        )
        return character_value(row) if row else None

    async def owned_by(self, guild_id: int, owner_id: int) -> list[Character]:
        """Every character a member made in a server."""
        rows = await self._session.scalars(
            select(CharacterRow)
            .where(CharacterRow.guild_id == guild_id, CharacterRow.owner_id == owner_id)
            .order_by(CharacterRow.name_key)
        )
        return [character_value(row) for row in rows]

    async def names(self, guild_id: int, *, limit: int = 1000) -> list[str]:
        """Character names of a server, for autocomplete."""
        result = await self._session.scalars(
            select(CharacterRow.name)
            .where(CharacterRow.guild_id == guild_id)
            .order_by(CharacterRow.name_key)
            .limit(limit)
        )
        return list(result)

    async def count(self, guild_id: int) -> int:
        return (
            await self._session.scalar(
                select(func.count())
                .select_from(CharacterRow)
                .where(CharacterRow.guild_id == guild_id)
            )
            or 0
        )

    async def update(self, character_id: int, changes: Mapping[str, object]) -> Character:
        unknown = set(changes) - EDITABLE_FIELDS
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        row = await self._session.get(CharacterRow, character_id, with_for_update=True)
        if row is None:
            raise NotFound("That character no longer exists.")
        if "name" in changes:
            new_name = str(changes["name"])
            other = await self.get_by_name(row.guild_id, new_name)
            if other is not None and other.id != character_id:
                raise AlreadyExists(
                    f"A character named {new_name!r} already exists on this server."
                )
            row.name_key = name_key(new_name)
        if "avatar_png" in changes and "card_image_png" not in changes:
            row.card_image_png = None  # a new avatar is also the image its card exports with
        for field, value in changes.items():
            setattr(row, field, _to_column(_SPECS.get(field), value))
        await self._session.flush()
        return character_value(row)

    async def delete(self, character_id: int) -> bool:
        result = await self._session.execute(
            delete(CharacterRow).where(CharacterRow.id == character_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def avatar(self, character_id: int) -> bytes | None:
        return await self._session.scalar(
            select(CharacterRow.avatar_png).where(CharacterRow.id == character_id)
        )

    async def card_image(self, character_id: int) -> bytes | None:
        """The image to export with the character's card: the card's own, else the avatar."""
        row = (
            await self._session.execute(
                select(CharacterRow.card_image_png, CharacterRow.avatar_png).where(
                    CharacterRow.id == character_id
                )
            )
        ).first()
        if row is None:
            return None
        image: bytes | None = (
            row.card_image_png if row.card_image_png is not None else row.avatar_png
        )
        return image

    async def stored_card_json(self, character_id: int) -> dict[str, object] | None:
        """The card JSON an imported character keeps (bot.characters.card_io.kept_card_json:
        the card less lorebook and image), or None for a character made in Galatea."""
        return await self._session.scalar(
            select(CharacterRow.card_json).where(CharacterRow.id == character_id)
        )

    # Last: below it, ``list`` in an annotation would mean this method.
    async def in_guild(self, guild_id: int, *, offset: int = 0, limit: int = 25) -> list[Character]:
        rows = await self._session.scalars(
            select(CharacterRow)
            .where(CharacterRow.guild_id == guild_id)
            .order_by(CharacterRow.name_key)
            .offset(offset)
            .limit(limit)
        )
        return [character_value(row) for row in rows]
