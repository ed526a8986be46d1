"""people, nodes, warrants and queries

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_login_failures_at'), 'login_failures', ['at'], unique=False)
    op.create_index(op.f('ix_login_failures_username'), 'login_failures', ['username'],
                    unique=False)
    op.create_table('nodes',
    sa.Column('node_id', sa.String(length=128), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('cameras', sa.JSON(), nullable=False),
    sa.Column('identity_key', sa.String(length=64), nullable=False),
    sa.Column('sealing_key', sa.String(length=64), nullable=False),
    sa.Column('enrolled_by', sa.String(length=64), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('node_id'),
    sa.UniqueConstraint('identity_key')
    )
    op.create_index(op.f('ix_nodes_site_id'), 'nodes', ['site_id'], unique=False)
    op.create_table('users',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('agency', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('signing_key', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('username')
    )
    op.create_table('warrants',
    sa.Column('warrant_id', sa.String(length=128), nullable=False),
    sa.Column('basis', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('case_number', sa.String(length=128), nullable=False),
    sa.Column('justification', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('registered_index', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('warrant_id')
    )
    op.create_index(op.f('ix_warrants_status'), 'warrants', ['status'], unique=False)
    op.create_table('queries',
    sa.Column('query_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('warrant_id', sa.String(length=128), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('purpose_code', sa.String(length=128), nullable=False),
    sa.Column('cameras', sa.JSON(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('target_count', sa.Integer(), nullable=False),
    sa.Column('dispatched_index', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['warrant_id'], ['warrants.warrant_id'], ),
    sa.PrimaryKeyConstraint('query_id')
    )
    op.create_index(op.f('ix_queries_requested_by'), 'queries', ['requested_by'], unique=False)
    op.create_index(op.f('ix_queries_warrant_id'), 'queries', ['warrant_id'], unique=False)
    op.create_table('query_nodes',
    sa.Column('query_id', sa.String(length=36), nullable=False),
    sa.Column('node_id', sa.String(length=128), nullable=False),
    sa.Column('task_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disclosed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.node_id'], ),
    sa.ForeignKeyConstraint(['query_id'], ['queries.query_id'], ),
    sa.PrimaryKeyConstraint('query_id', 'node_id')
    )


def downgrade() -> None:
    op.drop_table('query_nodes')
    op.drop_index(op.f('ix_queries_warrant_id'), table_name='queries')
    op.drop_index(op.f('ix_queries_requested_by'), table_name='queries')
    op.drop_table('queries')
    op.drop_index(op.f('ix_warrants_status'), table_name='warrants')
    op.drop_table('warrants')
    op.drop_table('users')
    op.drop_index(op.f('ix_nodes_site_id'), table_name='nodes')
    op.drop_table('nodes')
    op.drop_index(op.f('ix_login_failures_username'), table_name='login_failures')
    op.drop_index(op.f('ix_login_failures_at'), table_name='login_failures')
    op.drop_table('login_failures')
