"""alerts published to an MQTT broker: one delivery row per alert, planned at intake

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mqtt_deliveries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('target', 'alert_id')
    )
    op.create_index(op.f('ix_mqtt_deliveries_alert_id'), 'mqtt_deliveries', ['alert_id'],
                    unique=False)
    op.create_index(op.f('ix_mqtt_deliveries_state'), 'mqtt_deliveries', ['state'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_mqtt_deliveries_state'), table_name='mqtt_deliveries')
    op.drop_index(op.f('ix_mqtt_deliveries_alert_id'), table_name='mqtt_deliveries')
    op.drop_table('mqtt_deliveries')
