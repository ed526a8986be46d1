"""Alembic environment: the coordinator passes its own connection (``coordinator.db.migrate``);
``alembic -x url=...`` works too for an operator running migrations by hand."""

from alembic import context
from sqlalchemy import create_engine

from coordinator.db import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")

if connection is None:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database: alembic -x url=postgresql+psycopg://... upgrade head")
    with create_engine(url).begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
