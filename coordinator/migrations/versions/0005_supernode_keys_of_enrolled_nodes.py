"""supernode keys of enrolled nodes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('nodes', sa.Column('flower_key', sa.String(length=512), nullable=True))


def downgrade() -> None:
    op.drop_column('nodes', 'flower_key')
