"""a node's aggregate answers, newest first

Each node's newest budget report (``GET /aggregates/budgets``, the planner's page) is one
query that walks the node's answers newest first and stops at the first stating a budget;
this index gives that walk, so the query reads a few rows per node however many are stored.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_aggregate_nodes_node_answered', 'aggregate_nodes',
                    ['node_id', 'answered_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_aggregate_nodes_node_answered', table_name='aggregate_nodes')
