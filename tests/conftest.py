"""Shared fixtures: the public-domain photos and LFW live in ../shared/data beside the project."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consentcam.config import Settings, VisionSettings, load_settings
from consentcam.consent.ledger import Ledger, open_ledger

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PUBLIC_DOMAIN = SHARED_DATA / "public-domain"
LFW_ROOT = SHARED_DATA / "lfw"


@pytest.fixture(scope="session")
def photos() -> Path:
    assert PUBLIC_DOMAIN.is_dir(), f"expected the shared data at {PUBLIC_DOMAIN}"
    return PUBLIC_DOMAIN


@pytest.fixture(scope="session")
def settings() -> VisionSettings:
    return VisionSettings()


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the real CLI entry point in-process: (exit code, stdout, stderr)."""
    from consentcam.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            main(list(args))
        out, err = capsys.readouterr()
        code = exc.value.code if isinstance(exc.value.code, int) else 1
        return code, out, err

    return run


BACKENDS = ["sqlite", "postgresql"]
PG_URL_VAR = "CONSENTCAM_TEST_DATABASE_URL"


@pytest.fixture(params=BACKENDS)
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Development settings for a fresh, empty store on each backend: SQLite in a temporary data
    directory, and a throwaway PostgreSQL database (the server comes from .ci/run)."""
    if request.param == "sqlite":
        yield load_settings(data_dir=tmp_path / "store", dev=True)
        return
    server = os.environ.get(PG_URL_VAR)
    if not server:
        if os.environ.get("CI"):
            pytest.fail(f"CI must start PostgreSQL and set {PG_URL_VAR} (see .ci/run)")
        pytest.skip(f"PostgreSQL tests need {PG_URL_VAR} (bash .ci/postgres.sh prints one)")
    import sqlalchemy as sa

    name = f"consentcam_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield load_settings(data_dir=tmp_path / "store", dev=True, database_url=url)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def make_ledger(store_settings: Settings) -> Callable[..., Ledger]:
    def make(actor: str = "test:staff") -> Ledger:
        return open_ledger(store_settings, actor, create=True)

    return make


@pytest.fixture
def ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    return make_ledger()


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    path = tmp_path / "signed-consent-form.txt"
    path.write_text("I consent to face recognition for member greetings. Signed, A. Member")
    return path
