from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.exc import TimeoutError as PoolTimeout

from consentcam.config import Settings, load_settings
from consentcam.errors import NotFound, StoreUnavailable
from consentcam.store.db import (
    CONNECT_TIMEOUT_S,
    LIBPQ_KEEPALIVES,
    MIGRATIONS,
    TCP_USER_TIMEOUT_MS,
    _engine_options,
    open_store,
    store_unavailable,
)
from consentcam.store.models import Base


def test_missing_store_tells_the_user_to_init(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="consentcam init"):
        open_store(load_settings(data_dir=tmp_path / "absent"))


def test_migrations_match_the_models(store_settings: Settings) -> None:
    store = open_store(store_settings, create=True)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_reopening_is_idempotent(store_settings: Settings) -> None:
    open_store(store_settings, create=True)
    store = open_store(store_settings)
    with store.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    assert current == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_postgresql_connections_give_up_on_a_silent_server() -> None:
    """Connection attempts time out, and libpq's keepalives and user timeout bound the wait on
    an open connection whose server went silent; a value the URL gives is left to the URL."""
    options = _engine_options("postgresql+psycopg://app@db.example/consentcam")
    assert options["pool_pre_ping"] is True
    assert options["connect_args"] == {
        "connect_timeout": CONNECT_TIMEOUT_S,
        **LIBPQ_KEEPALIVES,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
    }
    given = _engine_options(
        "postgresql+psycopg://app@db.example/consentcam"
        "?keepalives_idle=60&tcp_user_timeout=0&connect_timeout=2"
    )["connect_args"]
    assert not {"keepalives_idle", "tcp_user_timeout", "connect_timeout"} & given.keys()
    assert given["keepalives_count"] == LIBPQ_KEEPALIVES["keepalives_count"]
    assert _engine_options("sqlite:////tmp/consentcam.db") == {}


@pytest.mark.parametrize("store_settings", ["postgresql"], indirect=True)
def test_libpq_takes_the_keepalive_settings(store_settings: Settings) -> None:
    store = open_store(store_settings, create=True)
    try:
        with store.engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            parameters = driver.info.get_parameters()
    finally:
        store.engine.dispose()
    assert parameters["keepalives_idle"] == str(LIBPQ_KEEPALIVES["keepalives_idle"])
    assert parameters["tcp_user_timeout"] == str(TCP_USER_TIMEOUT_MS)


def test_no_free_pooled_connection_is_the_store_unavailable(tmp_path: Path) -> None:
    """Every connection of the pool busy for its whole timeout: retry later (the API's 503),
    not an internal error."""
    engine = create_engine(
        f"sqlite:///{tmp_path / 'pool.db'}", pool_size=1, max_overflow=0, pool_timeout=0.05
    )
    try:
        with engine.connect(), pytest.raises(PoolTimeout) as busy:
            engine.connect()
    finally:
        engine.dispose()
    outage = store_unavailable(busy.value)
    assert isinstance(outage, StoreUnavailable)
    assert str(outage) == "the store is unavailable (all its connections are busy); retry later"
