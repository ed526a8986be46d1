"""incident revisions: a number each change of an incident gets, for the live feed to resume from

``incident_revisions`` holds the last number handed out (one row); ``incidents.revision`` is the
number of an incident's latest change, ``incidents.opened_revision`` that of its first (both set
in the transaction that inserts or changes the incident, just before it commits). Existing
incidents are numbered in id order, opened and last changed at the same number.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incident_revisions',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('incidents') as batch:
        batch.add_column(sa.Column('revision', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('opened_revision', sa.BigInteger(), nullable=True))
    incidents = sa.table('incidents', sa.column('id'), sa.column('revision'),
                         sa.column('opened_revision'))
    op.execute(sa.update(incidents).values(revision=incidents.c.id,
                                           opened_revision=incidents.c.id))
    with op.batch_alter_table('incidents') as batch:
        batch.create_index(op.f('ix_incidents_revision'), ['revision'], unique=True)
    bind = op.get_bind()
    last = bind.execute(sa.select(sa.func.max(incidents.c.id))).scalar() or 0
    op.execute(sa.table('incident_revisions', sa.column('id'), sa.column('last'))
               .insert().values(id=1, last=last))


def downgrade() -> None:
    with op.batch_alter_table('incidents') as batch:
        batch.drop_index(op.f('ix_incidents_revision'))
        batch.drop_column('opened_revision')
        batch.drop_column('revision')
    op.drop_table('incident_revisions')
