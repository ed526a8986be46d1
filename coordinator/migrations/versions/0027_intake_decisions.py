"""the flood limit's decision on each new event of a node (admitted or refused)

Kept with the token it charged, so that a redelivered batch is charged nothing more and its
refusal audited and counted once (``coordinator.intake_limit``).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intake_decisions',
    sa.Column('node_id', sa.String(length=128), nullable=False),
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('refused', sa.Boolean(), nullable=False),
    sa.Column('audited', sa.Boolean(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.node_id'], ),
    sa.PrimaryKeyConstraint('node_id', 'seq')
    )
    op.create_index(op.f('ix_intake_decisions_decided_at'), 'intake_decisions',
                    ['decided_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_intake_decisions_decided_at'), table_name='intake_decisions')
    op.drop_table('intake_decisions')
