"""where each enrolled camera stands and looks (the map), and each operator's saved video wall

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('nodes', sa.Column('camera_placements', sa.JSON(), nullable=True))
    op.create_table('wall_layouts',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('layout', sa.JSON(), nullable=False),
    sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['username'], ['users.username'], ),
    sa.PrimaryKeyConstraint('username')
    )


def downgrade() -> None:
    op.drop_table('wall_layouts')
    op.drop_column('nodes', 'camera_placements')
