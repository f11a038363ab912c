"""ORM models. They never leave bot/store/: repositories return frozen values from bot.values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.store.text import storable

# Stable constraint names, so Alembic batch migrations on SQLite can find them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Our own row ids: 64-bit on PostgreSQL, INTEGER PRIMARY KEY (the rowid) on SQLite.
RowId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class GuildConfig(Base):
    """Per-server settings that admins change with /config. Absent row = defaults."""

    __tablename__ = "guild_configs"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    allowed_channel_ids: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    creator_role_ids: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    session_role_ids: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    reply_mode: Mapped[str] = mapped_column(String(16), default="all")
    ooc_prefix: Mapped[str] = mapped_column(String(16), default="//")
    max_reply_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sampler_preset: Mapped[str | None] = mapped_column(String(32), nullable=True)
    user_cooldown_seconds: Mapped[float] = mapped_column(default=0.0)
    nsfw_rule: Mapped[str] = mapped_column(String(24), default="age_restricted")
    max_characters: Mapped[int] = mapped_column(Integer, default=4, server_default="4")
    replies_per_message: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class CharacterRow(Base):
    """A character of one server (guild_id 0 holds the console's characters)."""

    __tablename__ = "characters"
    __table_args__ = (UniqueConstraint("guild_id", "name_key"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, index=True)
    owner_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))  # casefolded name: unique per server
    persona: Mapped[str] = mapped_column(Text, default="")
    greeting: Mapped[str] = mapped_column(Text, default="")
    scenario: Mapped[str] = mapped_column(Text, default="")
    example_dialogue: Mapped[str] = mapped_column(Text, default="")
    avatar_png: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    nsfw: Mapped[bool] = mapped_column(Boolean, default=False)
    alternate_greetings: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    system_prompt: Mapped[str] = mapped_column(Text, default="", server_default="")
    post_history_instructions: Mapped[str] = mapped_column(Text, default="", server_default="")
    example_mode: Mapped[str] = mapped_column(
        String(16), default="gradual", server_default="gradual"
    )
    # How readily the character speaks up in a group scene when nobody named it (0..1).
    talkativeness: Mapped[float] = mapped_column(Float, default=0.5, server_default="0.5")
    # The imported card's document (bot.cards.CharacterCard as JSON, lorebook and image left
    # out): the fields Galatea does not use, kept so that an export gives the card back whole.
    # Deferred: prompts never need it.
    card_json: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True, deferred=True)
    # The imported card's own image (PNG, at most 2048 px a side, ~4 MiB), for export; the
    # avatar above is Discord's 512-px thumbnail. Deferred like the card document.
    card_image_png: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class LorebookRow(Base):
    """A lorebook: a character's own (``character_id``) or a server world (``name``)."""

    __tablename__ = "lorebooks"
    __table_args__ = (UniqueConstraint("guild_id", "name_key"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, index=True)
    character_id: Mapped[int | None] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), nullable=True, unique=True
    )
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)  # worlds only
    name_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The book's own fields (scan_depth, token_budget, recursive_scanning, extensions, ...)
    # as a bot.cards.LoreBook without entries.
    settings: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class LoreEntryRow(Base):
    """One entry of a lorebook, as a bot.cards.LoreEntry document; ordered by id."""

    __tablename__ = "lore_entries"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("lorebooks.id", ondelete="CASCADE"), index=True)
    data: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SessionRow(Base):
    """A roleplay session in one channel or thread; at most one active per channel."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index(
            "uq_sessions_active_channel",
            "channel_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, index=True)
    channel_id: Mapped[int] = mapped_column(BigInteger, index=True)
    character_id: Mapped[int] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    started_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    overrides: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    world_id: Mapped[int | None] = mapped_column(
        ForeignKey("lorebooks.id", ondelete="SET NULL"), nullable=True, index=True
    )
    author_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    author_note_depth: Mapped[int] = mapped_column(Integer, default=4, server_default="4")
    # Who set the author's note: /forget me erases the notes a member wrote.
    author_note_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Moved by database triggers on every insert, update and delete of the session's messages
    # (migration b3c1e0a7d2f4): an in-memory copy of the history is current while it holds.
    history_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class MessageRow(Base):
    """One line of a session's history: a human's message, a character's reply, a note."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_session_recent", "session_id", "id"),
        # A Discord message joins a session's history once, however many processes see it.
        Index(
            "uq_messages_session_human_discord_id",
            "session_id",
            "discord_message_id",
            unique=True,
            sqlite_where=text("role = 'human'"),
            postgresql_where=text("role = 'human'"),
        ),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    discord_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    # A reply shown in several Discord messages: the ids after the first, in order.
    discord_tail_ids: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    speaker: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Regenerated versions of a character's reply ("swipes"); ``content`` is the chosen one.
    swipes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    swipe_index: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Which character spoke a character line (None for humans and for lines from before
    # group scenes: those belong to the session's first character).
    character_id: Mapped[int | None] = mapped_column(
        ForeignKey("characters.id", ondelete="SET NULL"), nullable=True
    )


class SessionCharacterRow(Base):
    """A character taking part in a session's scene; the session's first character too."""

    __tablename__ = "session_characters"
    __table_args__ = (UniqueConstraint("session_id", "character_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    character_id: Mapped[int] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), index=True
    )
    # The character knows the history after this message only (None: the whole history).
    since_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    added_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PersonaRow(Base):
    """What a member wants to be called in roleplay on one server, and who they are there."""

    __tablename__ = "personas"
    __table_args__ = (UniqueConstraint("guild_id", "user_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class AppState(Base):
    """Small facts the bot keeps across restarts (command-tree hash, login back-off)."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ChannelLease(Base):
    """Which process answers a channel, until when (see bot/roleplay/lease.py)."""

    __tablename__ = "channel_leases"

    channel_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@event.listens_for(Base, "before_insert", propagate=True)
@event.listens_for(Base, "before_update", propagate=True)
def _drop_nul_from_text(_mapper: Any, _connection: Any, row: Base) -> None:
    """The row object holds the text as stored (the engine strips NUL from every statement's
    parameters, bot/store/database.py): values returned after a flush match a later read."""
    for attribute in inspect(row).mapper.column_attrs:
        value = row.__dict__.get(attribute.key)
        if isinstance(value, str) and "\x00" in value:
            setattr(row, attribute.key, storable(value))
