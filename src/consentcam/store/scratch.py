"""Scratch PostgreSQL databases: a new empty database on a server, dropped afterwards. For the
test suite, the benchmarks and trying the product against a real server without touching its
other databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


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
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
