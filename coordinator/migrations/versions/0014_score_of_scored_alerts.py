"""the score a node gives an alert of a scored rule (weapon, aggression), in thousandths

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alerts', sa.Column('score', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('alerts', 'score')
