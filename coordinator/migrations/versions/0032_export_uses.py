"""evidence exports counted per warrant and node against the warrant's uses

A node's export reports were logged once per export id and never counted, so a rogue node
reported any number of exports under a one-use warrant (red team 3). ``export_uses`` holds, per
warrant and node, the exports the city logged; the coordinator refuses a report past the
warrant's ``max_uses`` (``coordinator.export_reports``). Filled from the exports already
reported (a count past the uses stays: no later report is taken).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'export_uses',
        sa.Column('warrant_id', sa.String(length=128), nullable=False),
        sa.Column('node_id', sa.String(length=128), nullable=False),
        sa.Column('uses', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['node_id'], ['nodes.node_id'], ),
        sa.ForeignKeyConstraint(['warrant_id'], ['warrants.warrant_id'], ),
        sa.PrimaryKeyConstraint('warrant_id', 'node_id'),
    )
    op.execute("INSERT INTO export_uses (warrant_id, node_id, uses) "
               "SELECT warrant_id, node_id, COUNT(*) FROM evidence_exports "
               "GROUP BY warrant_id, node_id")


def downgrade() -> None:
    op.drop_table('export_uses')
