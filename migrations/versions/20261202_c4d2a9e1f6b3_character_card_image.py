"""a character's own card image, kept for export beside the 512-px avatar

Revision ID: c4d2a9e1f6b3
Revises: c4d2e8f1a9b3
Create Date: 2026-12-02 23:00:00.000000

Additive: one nullable column. It is added with a plain ALTER TABLE ... ADD COLUMN, never a
batch (copy-and-move) rebuild, so no row of ``characters`` or of the tables that point at it
is touched on SQLite or PostgreSQL. Existing characters have no card image; they export with
their avatar, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'c4d2a9e1f6b3'
down_revision: str | None = 'c4d2e8f1a9b3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('characters', sa.Column('card_image_png', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ and PostgreSQL drop a column in place; no table rebuild either way.
    op.drop_column('characters', 'card_image_png')
