"""planners aggregate questions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('aggregates',
    sa.Column('query_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('epsilon', sa.Double(), nullable=False),
    sa.Column('delta', sa.Double(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dispatched_index', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('query_id')
    )
    op.create_index(op.f('ix_aggregates_requested_by'), 'aggregates', ['requested_by'],
                    unique=False)
    op.create_table('aggregate_nodes',
    sa.Column('query_id', sa.String(length=36), nullable=False),
    sa.Column('node_id', sa.String(length=128), nullable=False),
    sa.Column('cameras', sa.JSON(), nullable=False),
    sa.Column('task_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.node_id'], ),
    sa.ForeignKeyConstraint(['query_id'], ['aggregates.query_id'], ),
    sa.PrimaryKeyConstraint('query_id', 'node_id')
    )


def downgrade() -> None:
    op.drop_table('aggregate_nodes')
    op.drop_index(op.f('ix_aggregates_requested_by'), table_name='aggregates')
    op.drop_table('aggregates')
