"""when a webhook or MQTT delivery's next attempt is due

A failed attempt sets it (the retry's backoff); a delivery task that finds its delivery not due
yet does nothing and counts no attempt, so tasks queued by anyone on the broker, or duplicated,
cannot use up a delivery's attempts early (red team 3, ``coordinator.delivery_claims``).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None

TABLES = ('webhook_deliveries', 'mqtt_deliveries')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('due_at')
