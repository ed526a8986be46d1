"""where each open alert stands in the live feed, numbered in commit order

``alerts.revision`` is handed out from the incidents' revision counter as the last step of the
transaction that stores the alert (``coordinator.incident_revisions``), so ``/alerts/stream``
resuming after a position misses no alert committed late under a lower id. Alerts stored
before have none: the feed starts at the newest anyway.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('revision', sa.BigInteger(), nullable=True))
        batch.create_index(op.f('ix_alerts_revision'), ['revision'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.drop_index(op.f('ix_alerts_revision'))
        batch.drop_column('revision')
