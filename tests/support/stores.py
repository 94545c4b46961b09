"""The store backends the tests run on: SQLite in a folder, or a scratch database on the test
PostgreSQL server that .ci/run starts (its URL in CONSENTCAM_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from consentcam.config import Settings, load_settings
from consentcam.store.scratch import scratch_database

BACKENDS = ["sqlite", "postgresql"]
PG_URL_VAR = "CONSENTCAM_TEST_DATABASE_URL"


def postgres_server() -> str:
    """The test PostgreSQL server's URL; without one, the test skips (and fails under CI,
    where a missing server is a broken set-up, not a choice)."""
    server = os.environ.get(PG_URL_VAR)
    if not server:
        if os.environ.get("CI"):
            pytest.fail(f"CI must start PostgreSQL and set {PG_URL_VAR} (see .ci/run)")
        pytest.skip(f"PostgreSQL tests need {PG_URL_VAR} (bash .ci/postgres.sh prints one)")
    return server


@contextmanager
def backend_settings(backend: str, data_dir: Path) -> Iterator[Settings]:
    """Development settings for a fresh, empty store on ``backend``: SQLite in ``data_dir``, or
    a scratch database on the test PostgreSQL server."""
    if backend == "sqlite":
        yield load_settings(data_dir=data_dir, dev=True)
        return
    with scratch_database(postgres_server(), "consentcam_test") as url:
        yield load_settings(data_dir=data_dir, dev=True, database_url=url)
