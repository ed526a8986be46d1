"""signed updates of the keys nodes pin, each node's acknowledgement, uses given back

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pin_updates',
        sa.Column('sequence', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('update', sa.JSON(), nullable=True),
        sa.Column('signatures', sa.JSON(), nullable=False),
        sa.Column('pinned', sa.JSON(), nullable=False),
        sa.Column('pinned_sha256', sa.String(length=64), nullable=False),
        sa.Column('proposed_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('logged_index', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('sequence'),
    )
    op.create_table(
        'pin_acks',
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('node_id', sa.String(length=128), nullable=False),
        sa.Column('task_id', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('node_sequence', sa.Integer(), nullable=True),
        sa.Column('pinned_sha256', sa.String(length=64), nullable=True),
        sa.Column('reason', sa.String(length=64), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['node_id'], ['nodes.node_id']),
        sa.ForeignKeyConstraint(['sequence'], ['pin_updates.sequence']),
        sa.PrimaryKeyConstraint('sequence', 'node_id'),
    )
    op.add_column('queries', sa.Column('use_returned', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))


def downgrade() -> None:
    op.drop_column('queries', 'use_returned')
    op.drop_table('pin_acks')
    op.drop_table('pin_updates')
