"""the Discord messages after the first that show one long reply

Revision ID: c7e4a1f9d3b2
Revises: c4d2a9e1f6b3
Create Date: 2026-12-02 23:15:00.000000

A reply past 2,000 characters is shown in several Discord messages. ``discord_message_id``
keeps the first; ``discord_tail_ids`` keeps the others in order, so that every button works on
the whole reply after a restart too. Additive: a plain ADD COLUMN (no table rebuild, so the
history triggers on ``messages`` stay).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'c7e4a1f9d3b2'
down_revision: str | None = 'c4d2a9e1f6b3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('messages', sa.Column('discord_tail_ids', sa.JSON(), nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ and PostgreSQL drop a plain column in place (the triggers stay).
    op.drop_column('messages', 'discord_tail_ids')
