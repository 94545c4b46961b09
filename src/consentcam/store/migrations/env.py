"""Alembic environment: migrations run on the connection the store passes in (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from consentcam.store.models import Base

# Any number; the audit chain uses 727001.
MIGRATION_LOCK = 727002

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
# Every process that opens the store migrates it, and after an upgrade a supervisor's camera
# workers all start at once: one migrates while the others wait, then find the schema current
# (without the lock two ran the same step and one failed on "index already exists"). The lock
# is taken before alembic reads the current revision and held until this transaction ends.
if connection.dialect.name == "postgresql":
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
elif connection.dialect.name == "sqlite":
    connection.exec_driver_sql("BEGIN IMMEDIATE")
with context.begin_transaction():
    context.run_migrations()
