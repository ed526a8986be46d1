"""each coordinator worker's connection to the MQTT broker, as it reports it

``coordinator worker`` writes whether its connection (publishing alerts' actions, listening to
SOS buttons and sensors) is up, unreachable or refused, since when, and a heartbeat, so the
control room says so even while no action waits (``coordinator.mqtt_status``).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mqtt_connections',
        sa.Column('worker', sa.String(length=128), nullable=False),
        sa.Column('broker', sa.String(length=300), nullable=False),
        sa.Column('listening', sa.Boolean(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('worker'),
    )
    op.create_index(op.f('ix_mqtt_connections_reported_at'), 'mqtt_connections',
                    ['reported_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_mqtt_connections_reported_at'), table_name='mqtt_connections')
    op.drop_table('mqtt_connections')
