"""when each webhook and MQTT delivery was last planned, tried or queued again

A delivery still pending and untouched for ``delivery_requeue_seconds`` is queued again by the
housekeeping sweep (its task was lost: a worker stopped between storing a batch and queueing
its deliveries). Rows from before this migration have none: the first sweep queues any still
pending.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

TABLES = ('webhook_deliveries', 'mqtt_deliveries')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('touched_at', sa.DateTime(timezone=True), nullable=True))
            batch.create_index(op.f(f'ix_{table}_touched_at'), ['touched_at'], unique=False)


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(op.f(f'ix_{table}_touched_at'))
            batch.drop_column('touched_at')
