"""a session's history revision, moved by the database on every change to its messages

Revision ID: b3c1e0a7d2f4
Revises: 7efbfda410d8
Create Date: 2026-11-26 01:45:00.000000

The bot keeps each active session's prompt window in memory and re-reads it only when this
number moved by more than its own writes. Triggers move it, so every writer (another shard, a
prune, a member deleting their data, a hand-written SQL fix) keeps it true.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'b3c1e0a7d2f4'
down_revision: str | None = '7efbfda410d8'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUMP = "UPDATE sessions SET history_revision = history_revision + 1 WHERE id = {row}.session_id"

_SQLITE_TRIGGERS = {
    "messages_insert_moves_history": ("AFTER INSERT", [_BUMP.format(row="NEW")]),
    "messages_update_moves_history": (
        "AFTER UPDATE",
        [_BUMP.format(row="NEW"), _BUMP.format(row="OLD") + " AND OLD.session_id <> NEW.session_id"],
    ),
    "messages_delete_moves_history": ("AFTER DELETE", [_BUMP.format(row="OLD")]),
}

_POSTGRESQL_FUNCTION = """
CREATE FUNCTION messages_move_history() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        UPDATE sessions SET history_revision = history_revision + 1 WHERE id = NEW.session_id;
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.session_id <> NEW.session_id) THEN
        UPDATE sessions SET history_revision = history_revision + 1 WHERE id = OLD.session_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('history_revision', sa.Integer(), server_default='0', nullable=False))
    if op.get_context().dialect.name == "postgresql":
        op.execute(_POSTGRESQL_FUNCTION)
        op.execute(
            "CREATE TRIGGER messages_move_history AFTER INSERT OR UPDATE OR DELETE ON messages "
            "FOR EACH ROW EXECUTE FUNCTION messages_move_history()"
        )
    else:
        for name, (when, statements) in _SQLITE_TRIGGERS.items():
            body = "".join(f"{s}; " for s in statements)
            op.execute(f"CREATE TRIGGER {name} {when} ON messages FOR EACH ROW BEGIN {body}END")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER messages_move_history ON messages")
        op.execute("DROP FUNCTION messages_move_history()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('history_revision')
