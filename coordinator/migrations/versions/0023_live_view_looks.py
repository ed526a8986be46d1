"""each operator's look at a camera's live view, so that opening it is logged once

A live view fetched again within ``live_view_look_seconds`` of the operator's last fetch of it
continues the same look (the wall refreshes every few seconds); a longer pause, or a look past
``live_view_look_max_seconds``, opens a new one, logged as a ``consultation``.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'live_view_looks',
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('node_id', sa.String(length=128), nullable=False),
        sa.Column('camera', sa.String(length=64), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('username', 'node_id', 'camera'))


def downgrade() -> None:
    op.drop_table('live_view_looks')
