"""when each periodic job last started

The worker runs the housekeeping job at most once per ``housekeeping_seconds`` however often its
message is queued (anyone who can write to the broker can queue it: red team 3); the row says
when it last started (``coordinator.housekeeping.claim_run``).

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'job_runs',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('job_runs')
