"""login tries counted before they are checked; spent token ids (sign-out, used assertions)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'login_tries',
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('tries', sa.Integer(), nullable=False),
        sa.Column('window_started', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('scope', 'key'),
    )
    op.create_index(op.f('ix_login_tries_window_started'), 'login_tries', ['window_started'],
                    unique=False)
    op.create_table(
        'spent_token_ids',
        sa.Column('issuer', sa.String(length=140), nullable=False),
        sa.Column('jti', sa.String(length=128), nullable=False),
        sa.Column('expires_at', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('issuer', 'jti'),
    )
    op.create_index(op.f('ix_spent_token_ids_expires_at'), 'spent_token_ids', ['expires_at'],
                    unique=False)
    # failures were counted after the check (a race across workers): the new table replaces it
    op.drop_index(op.f('ix_login_failures_username'), table_name='login_failures')
    op.drop_index(op.f('ix_login_failures_at'), table_name='login_failures')
    op.drop_table('login_failures')


def downgrade() -> None:
    op.create_table(
        'login_failures',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_login_failures_at'), 'login_failures', ['at'], unique=False)
    op.create_index(op.f('ix_login_failures_username'), 'login_failures', ['username'],
                    unique=False)
    op.drop_index(op.f('ix_spent_token_ids_expires_at'), table_name='spent_token_ids')
    op.drop_table('spent_token_ids')
    op.drop_index(op.f('ix_login_tries_window_started'), table_name='login_tries')
    op.drop_table('login_tries')
