"""alerts from the city's devices (SOS buttons, sensors) at their position

An alert may come from a registered device instead of a node: ``node_id`` becomes nullable,
``device_id`` and the device's position are added (unique with ``seq``, the message's time in
milliseconds, hence ``seq`` widened to 64 bits, so a repeat delivery is stored once), and an
incident keeps the position too.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.alter_column('node_id', existing_type=sa.String(length=128), nullable=True)
        batch.alter_column('seq', existing_type=sa.Integer(), type_=sa.BigInteger(),
                           existing_nullable=False)
        batch.add_column(sa.Column('device_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('latitude', sa.Double(), nullable=True))
        batch.add_column(sa.Column('longitude', sa.Double(), nullable=True))
        batch.create_unique_constraint('uq_alerts_device_id_seq', ['device_id', 'seq'])
    with op.batch_alter_table('incidents') as batch:
        batch.add_column(sa.Column('latitude', sa.Double(), nullable=True))
        batch.add_column(sa.Column('longitude', sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('incidents') as batch:
        batch.drop_column('longitude')
        batch.drop_column('latitude')
    with op.batch_alter_table('alerts') as batch:
        batch.drop_constraint('uq_alerts_device_id_seq', type_='unique')
        batch.drop_column('longitude')
        batch.drop_column('latitude')
        batch.drop_column('device_id')
        batch.alter_column('seq', existing_type=sa.BigInteger(), type_=sa.Integer(),
                           existing_nullable=False)
        batch.alter_column('node_id', existing_type=sa.String(length=128), nullable=False)
