"""Scratch PostgreSQL databases: a new empty database on a server, dropped afterwards. For the
test suite, the benchmarks and trying the product against a real server without touching its
other databases."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# How long a drop is retried while the server refuses it (see ``drop_database``).
DROP_PATIENCE_S = 30.0


@contextmanager
def scratch_database(server_url: str, prefix: str = "consentcam_scratch") -> Iterator[str]:
    """The URL of a new, empty database on the PostgreSQL server of ``server_url`` (which must
    allow CREATE DATABASE), named ``prefix`` plus a random suffix; dropped on exit, even with
    connections still open."""
    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            drop_database(admin, name)
    finally:
        admin.dispose()


def drop_database(
    admin: Any,
    name: str,
    *,
    patience_s: float = DROP_PATIENCE_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Drop the database ``name`` through the autocommit engine ``admin``, ending its sessions.

    FORCE ends the sessions of the caller's own role, but not an autovacuum worker that happens
    to be cleaning the database (it runs as the bootstrap superuser): the server then refuses
    the drop, to a role that is not a superuser, with "must be a member of the role whose
    process is being terminated". The worker is done within moments, so the drop is retried
    for ``patience_s`` before the error is raised (CI saw this once after a write-heavy test)."""
    import sqlalchemy as sa

    deadline = clock() + patience_s
    while True:
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except (sa.exc.ProgrammingError, sa.exc.OperationalError):
            if clock() >= deadline:
                raise
            sleep(0.2)
