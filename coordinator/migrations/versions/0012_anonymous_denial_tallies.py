"""anonymous denials counted per source and interval, logged as one entry per interval

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'denial_tallies',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('interval_start', sa.BigInteger(), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('outcome', sa.String(length=32), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('claim', sa.String(length=36), nullable=False),
        sa.Column('claimed_at', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_denial_tallies_interval_start'), 'denial_tallies',
                    ['interval_start'], unique=False)
    op.create_index('uq_denial_tallies_open', 'denial_tallies',
                    ['interval_start', 'source', 'outcome'], unique=True,
                    sqlite_where=sa.text("claim = ''"), postgresql_where=sa.text("claim = ''"))


def downgrade() -> None:
    op.drop_index('uq_denial_tallies_open', table_name='denial_tallies')
    op.drop_index(op.f('ix_denial_tallies_interval_start'), table_name='denial_tallies')
    op.drop_table('denial_tallies')
