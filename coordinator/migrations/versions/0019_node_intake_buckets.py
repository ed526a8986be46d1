"""per-node token buckets for alert intake: a node's events past its rate are refused

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intake_buckets',
    sa.Column('node_id', sa.String(length=128), nullable=False),
    sa.Column('tokens', sa.Double(), nullable=False),
    sa.Column('refilled_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.node_id'], ),
    sa.PrimaryKeyConstraint('node_id')
    )


def downgrade() -> None:
    op.drop_table('intake_buckets')
