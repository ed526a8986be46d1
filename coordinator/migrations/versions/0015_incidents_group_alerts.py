"""incidents: alerts that belong together, handled as one

Alerts still open or acknowledged when this runs are grouped as the intake groups new ones, with
the default window (120 s: the setting is not known to a migration): by node, site, camera,
rule, type and zone or line, each alert at most the window after the incident's last. An incident is
acknowledged when all its alerts were, assigned when one of them was (to the newest assignee),
else new. Closed and logged alerts stay without an incident.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from coordinator.incident_grouping import joins
from coordinator.severity import severity

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

WINDOW = timedelta(seconds=120)


def upgrade() -> None:
    op.create_table('incidents',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('node_id', sa.String(length=128), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('camera', sa.String(length=64), nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('place', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('alert_count', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('handled_by', sa.String(length=64), nullable=True),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('current', sa.Boolean(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('node_id', 'site_id', 'camera', 'rule', 'type', 'place', 'current',
                        name='uq_incidents_current')
    )
    op.create_index(op.f('ix_incidents_site_id'), 'incidents', ['site_id'], unique=False)
    op.create_index(op.f('ix_incidents_state'), 'incidents', ['state'], unique=False)
    op.create_index(op.f('ix_incidents_last_seen'), 'incidents', ['last_seen'], unique=False)
    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('incident_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_alerts_incident_id', 'incidents', ['incident_id'], ['id'])
        batch.create_index(op.f('ix_alerts_incident_id'), ['incident_id'], unique=False)
    _group_open_alerts(op.get_bind())


def _group_open_alerts(bind: sa.engine.Connection) -> None:
    moment = sa.DateTime(timezone=True)
    alerts = sa.table('alerts', sa.column('id'), sa.column('node_id'), sa.column('site_id'),
                      sa.column('camera'),
                      sa.column('rule'), sa.column('zone'), sa.column('line'),
                      sa.column('type'), sa.column('time', moment), sa.column('state'),
                      sa.column('assigned_to'), sa.column('incident_id'))
    incidents = sa.table('incidents', *(sa.column(c) for c in (
        'id', 'node_id', 'site_id', 'camera', 'rule', 'place', 'type', 'severity', 'state',
        'alert_count', 'owner')), sa.column('first_seen', moment),
        sa.column('last_seen', moment), sa.column('current', sa.Boolean()))
    rows = bind.execute(sa.select(alerts).where(alerts.c.state.in_(('open', 'acknowledged')))
                        .order_by(alerts.c.time, alerts.c.id)).mappings().all()
    groups: list[tuple[tuple[str, str, str, str, str, str], list[Any]]] = []
    latest: dict[tuple[str, str, str, str, str, str], int] = {}
    for row in rows:
        key = (row['node_id'], row['site_id'], row['camera'], row['rule'], row['type'],
               row['zone'] or row['line'] or '')
        at = latest.get(key)
        if at is None or not joins(groups[at][1][-1]['time'], row['time'], WINDOW):
            latest[key] = at = len(groups)
            groups.append((key, []))
        groups[at][1].append(row)
    current = set(latest.values())
    for number, (key, members) in enumerate(groups):
        owners = [m['assigned_to'] for m in members if m['assigned_to']]
        state = ('assigned' if owners else 'new' if any(m['state'] == 'open' for m in members)
                 else 'acknowledged')
        node, site, camera, rule, type_, place = key
        incident_id = bind.execute(sa.insert(incidents).values(
            node_id=node, site_id=site, camera=camera, rule=rule, place=place, type=type_,
            severity=severity(type_), state=state,
            first_seen=members[0]['time'], last_seen=members[-1]['time'],
            alert_count=len(members), owner=owners[-1] if owners else None,
            current=True if number in current else None)
            .returning(incidents.c.id)).scalar_one()
        bind.execute(sa.update(alerts).where(alerts.c.id.in_([m['id'] for m in members]))
                     .values(incident_id=incident_id))


def downgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.drop_index(op.f('ix_alerts_incident_id'))
        batch.drop_constraint('fk_alerts_incident_id', type_='foreignkey')
        batch.drop_column('incident_id')
    op.drop_index(op.f('ix_incidents_last_seen'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_state'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_site_id'), table_name='incidents')
    op.drop_table('incidents')
