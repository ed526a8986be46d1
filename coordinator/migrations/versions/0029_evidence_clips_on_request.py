"""evidence clips on request: each operator's request for an alert's clip, the clip's signed
frames, and each operator's first look at a clip; all deleted with their alert

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'evidence_clip_requests',
        sa.Column('request_id', sa.String(length=36), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=True),
        sa.Column('node_id', sa.String(length=128), nullable=False),
        sa.Column('site_id', sa.String(length=64), nullable=False),
        sa.Column('camera', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('logged_index', sa.BigInteger(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('frames', sa.Integer(), nullable=True),
        sa.Column('reason', sa.String(length=32), nullable=True),
        sa.Column('detail', sa.String(length=500), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ),
        sa.PrimaryKeyConstraint('request_id'))
    op.create_index(op.f('ix_evidence_clip_requests_alert_id'), 'evidence_clip_requests',
                    ['alert_id'], unique=False)
    op.create_table(
        'alert_evidence_clips',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('request_id', sa.String(length=36), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column('index', sa.Integer(), nullable=False),
        sa.Column('metadata', sa.JSON(), nullable=False),
        sa.Column('signature', sa.String(length=200), nullable=False),
        sa.Column('jpeg', sa.LargeBinary(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ),
        sa.ForeignKeyConstraint(['request_id'], ['evidence_clip_requests.request_id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('request_id', 'index'))
    op.create_index(op.f('ix_alert_evidence_clips_alert_id'), 'alert_evidence_clips',
                    ['alert_id'], unique=False)
    op.create_table(
        'evidence_clip_looks',
        sa.Column('request_id', sa.String(length=36), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['evidence_clip_requests.request_id'], ),
        sa.PrimaryKeyConstraint('request_id', 'username'))


def downgrade() -> None:
    op.drop_table('evidence_clip_looks')
    op.drop_index(op.f('ix_alert_evidence_clips_alert_id'), table_name='alert_evidence_clips')
    op.drop_table('alert_evidence_clips')
    op.drop_index(op.f('ix_evidence_clip_requests_alert_id'),
                  table_name='evidence_clip_requests')
    op.drop_table('evidence_clip_requests')
