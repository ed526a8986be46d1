"""the lease an attempt at a webhook or MQTT delivery holds while it sends

An attempt claims its delivery (pending, not leased) with a conditional UPDATE before it
sends, so that a task redelivered by the broker, or queued again by the sweep, does not send
the same action while the first attempt is in flight (``coordinator.delivery_claims``).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

TABLES = ('webhook_deliveries', 'mqtt_deliveries')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('leased_until', sa.DateTime(timezone=True),
                                       nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('leased_until')
