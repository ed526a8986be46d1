"""a draft's plain targets and face reference images, kept for its signers only

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('warrants', sa.Column('for_signers', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('warrants', 'for_signers')
