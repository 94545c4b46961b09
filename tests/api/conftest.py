"""API test fixtures: a store with two tenants and callers of every role (``tests.support.seed``
builds it), and a fake enrolment face."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from consentcam.config import Settings
from tests.support.faces import fake_face
from tests.support.seed import Server, World, new_world, running_server
from tests.support.stores import BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """One store and app per backend (SQLite, PostgreSQL) and test module."""
    with tempfile.TemporaryDirectory() as folder, running_server(request.param, Path(folder)) as s:
        yield s


@pytest.fixture
def world(server: Server) -> World:
    """Fresh tenants on the module's store."""
    return new_world(server)


@pytest.fixture
def own_world(store_settings: Settings, tmp_path: Path) -> Iterator[World]:
    """A world on a store of its own, for tests that break the store (audit tampering)."""
    backend = "postgresql" if store_settings.database_url else "sqlite"
    with running_server(backend, tmp_path) as server:
        yield new_world(server)


@pytest.fixture
def fake_faces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("consentcam.vision.faces.enrolment_face", fake_face)
