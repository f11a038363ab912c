"""who wrote a session's author's note (so /forget me can erase it)

Revision ID: c4d2e8f1a9b3
Revises: b3c1e0a7d2f4
Create Date: 2026-12-02 23:00:00.000000

Additive: a nullable column, no table rebuild. Notes written before it have no known author.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'c4d2e8f1a9b3'
down_revision: str | None = 'b3c1e0a7d2f4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('sessions', sa.Column('author_note_by', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # Not batch mode: a rebuild of sessions fails on SQLite (the history triggers name it);
    # SQLite drops a plain column in place since 3.35.
    op.drop_column('sessions', 'author_note_by')
