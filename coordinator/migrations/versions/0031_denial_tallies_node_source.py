"""denial tallies also count an enrolled node's signed refusals, under ``node:`` and its id

An enrolled node's signed messages the worker refuses are tallied per node per interval
(``coordinator.denials.count_signed``), one entry naming the node per interval rather than one
per message (red team 3); a node id is up to 128 characters, so the source column widens.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('denial_tallies') as batch:
        batch.alter_column('source', existing_type=sa.String(length=64),
                           type_=sa.String(length=140), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('denial_tallies') as batch:
        batch.alter_column('source', existing_type=sa.String(length=140),
                           type_=sa.String(length=64), existing_nullable=False)
