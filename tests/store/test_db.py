from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from consentcam.config import Settings, load_settings
from consentcam.errors import NotFound
from consentcam.store.db import MIGRATIONS, open_store
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
