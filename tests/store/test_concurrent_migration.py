"""Processes that open a store at the same time (camera workers after an upgrade) migrate it
once between them: none fails, and the schema ends at the head revision."""

from __future__ import annotations

import multiprocessing as mp

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from consentcam.config import Settings
from consentcam.store.db import MIGRATIONS, database_url, open_store


def _open(settings: Settings) -> None:
    open_store(settings).engine.dispose()


def _revision(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        revision = str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar())
    engine.dispose()
    return revision


def test_workers_opening_an_old_store_at_once_migrate_it_once(store_settings: Settings) -> None:
    url = database_url(store_settings)
    store = open_store(store_settings, create=True)
    head = _revision(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:  # back to the store before the last migration
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    store.engine.dispose()
    assert _revision(url) != head

    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=_open, args=(store_settings,)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0] * 4
    assert _revision(url) == head
