"""memory: running summaries, pinned facts, and a full-text index over the history

Revision ID: d5a8c3e1f7b4
Revises: c7e4a1f9d3b2
Create Date: 2026-12-10 10:00:00.000000

A character remembers past its context window (bot/memory/): ``memory_summaries`` holds each
(session, character)'s running summary of the lines its window trimmed, ``memory_pins`` the
facts members pinned, ``session_memories`` whether memory is on and the pins' revision.

Old lines come back into a prompt when the current message mentions them: a full-text index
over ``messages.content``, in the database already there. SQLite: an FTS5 table with external
content (no second copy of the text), kept current by triggers and filled from the rows
already stored. PostgreSQL: a GIN index on ``to_tsvector('english', content)``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'd5a8c3e1f7b4'
down_revision: str | None = 'c7e4a1f9d3b2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FTS_TRIGGERS = {
    "messages_fts_insert": (
        "AFTER INSERT",
        ["INSERT INTO messages_fts(rowid, content) VALUES (NEW.id, NEW.content)"],
    ),
    "messages_fts_delete": (
        "AFTER DELETE",
        [
            "INSERT INTO messages_fts(messages_fts, rowid, content) "
            "VALUES ('delete', OLD.id, OLD.content)"
        ],
    ),
    "messages_fts_update": (
        "AFTER UPDATE OF content",
        [
            "INSERT INTO messages_fts(messages_fts, rowid, content) "
            "VALUES ('delete', OLD.id, OLD.content)",
            "INSERT INTO messages_fts(rowid, content) VALUES (NEW.id, NEW.content)",
        ],
    ),
}


def upgrade() -> None:
    op.create_table(
        'session_memories',
        sa.Column('session_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('revision', sa.Integer(), server_default='0', nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_session_memories_session_id_sessions'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('session_id', name=op.f('pk_session_memories')),
    )
    op.create_table(
        'memory_summaries',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('session_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('character_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('text', sa.Text(), server_default='', nullable=False),
        sa.Column('covered_until', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('revision', sa.Integer(), server_default='0', nullable=False),
        sa.Column('authors', sa.JSON(), nullable=True),
        sa.Column('edited_by', sa.BigInteger(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['character_id'], ['characters.id'], name=op.f('fk_memory_summaries_character_id_characters'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_memory_summaries_session_id_sessions'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_memory_summaries')),
        sa.UniqueConstraint('session_id', 'character_id', name=op.f('uq_memory_summaries_session_id')),
    )
    op.create_table(
        'memory_pins',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('session_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('pinned_by', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_memory_pins_session_id_sessions'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_memory_pins')),
    )
    op.create_index(op.f('ix_memory_pins_session_id'), 'memory_pins', ['session_id'], unique=False)
    op.create_index(op.f('ix_memory_pins_pinned_by'), 'memory_pins', ['pinned_by'], unique=False)
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_messages_content_search ON messages "
            "USING gin (to_tsvector('english', content))"
        )
    else:
        op.execute(
            "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', "
            "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
        )
        for name, (when, statements) in _FTS_TRIGGERS.items():
            body = "".join(f"{s}; " for s in statements)
            op.execute(f"CREATE TRIGGER {name} {when} ON messages FOR EACH ROW BEGIN {body}END")
        op.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")  # existing rows


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_messages_content_search")
    else:
        for name in _FTS_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE messages_fts")
    op.drop_index(op.f('ix_memory_pins_pinned_by'), table_name='memory_pins')
    op.drop_index(op.f('ix_memory_pins_session_id'), table_name='memory_pins')
    op.drop_table('memory_pins')
    op.drop_table('memory_summaries')
    op.drop_table('session_memories')
