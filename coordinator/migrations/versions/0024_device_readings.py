"""a sensor's reading kept with its alert

An air-quality or noise sensor's threshold crossing is stored as an alert; it now keeps the
reading that crossed, its unit and the threshold (the reading's time is the alert's), so that
the incident shows what the device measured. Null for every other alert.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('reading', sa.Double(), nullable=True))
        batch.add_column(sa.Column('unit', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('threshold', sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.drop_column('threshold')
        batch.drop_column('unit')
        batch.drop_column('reading')
