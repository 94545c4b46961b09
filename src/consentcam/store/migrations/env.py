"""Alembic environment: migrations run on the connection the store passes in (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from consentcam.store.models import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
