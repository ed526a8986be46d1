"""evidence exports reported by nodes (each logged once)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'evidence_exports',
        sa.Column('export_id', sa.String(length=36), nullable=False),
        sa.Column('node_id', sa.String(length=128), nullable=False),
        sa.Column('warrant_id', sa.String(length=128), nullable=False),
        sa.Column('log_index', sa.Integer(), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['node_id'], ['nodes.node_id']),
        sa.ForeignKeyConstraint(['warrant_id'], ['warrants.warrant_id']),
        sa.PrimaryKeyConstraint('export_id'),
    )
    op.create_index(op.f('ix_evidence_exports_warrant_id'), 'evidence_exports', ['warrant_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_evidence_exports_warrant_id'), table_name='evidence_exports')
    op.drop_table('evidence_exports')
