"""API test fixtures: a store with two tenants, callers of every role, and a fake enrolment face.

Tenant ``acme`` has sites ``north`` and ``south``; tenant ``globex`` has site ``west``. Callers are
``Principal`` records put in place of authentication through ``dependency_overrides``, so these
tests exercise authorisation and scoping, not login.
"""

from __future__ import annotations

import dataclasses
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from consentcam.api.app import create_app
from consentcam.api.security import current_principal
from consentcam.auth.roles import Principal
from consentcam.config import Settings
from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger, open_ledger
from consentcam.consent.members import add_member
from consentcam.consent.pictures import store_portrait
from consentcam.consent.sites import add_camera, add_site
from consentcam.store.models import Base, Member, Site
from consentcam.vision.records import Box, Detection, Face, Landmarks, Quality
from tests.conftest import BACKENDS, backend_settings

with warnings.catch_warnings():
    # Starlette suggests another HTTP client for its TestClient; httpx is what the project ships.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

API = "/api/v1"
# Stands in for a portrait's JPEG where no face model runs (the API serves the bytes as stored).
FAKE_JPEG = b"\xff\xd8\xff\xe0 a portrait's bytes \xff\xd9"
TENANTS = {"acme": ("north", "south"), "globex": ("west",)}


@dataclass
class World:
    """A running API over a store with two tenants, and helpers to call it as anyone."""

    app: FastAPI
    client: TestClient
    settings: Settings
    ledgers: dict[str, Ledger]
    tenant_ids: dict[str, str]
    sites: dict[str, Site]
    evidence: Path
    counter: list[int] = field(default_factory=lambda: [0])

    def principal(self, role: str, tenant: str = "acme", sites: tuple[str, ...] = ()) -> Principal:
        """A caller with ``role`` in ``tenant``, confined to ``sites`` (names) when given."""
        return Principal(
            user_id=f"u-{role}-{tenant}",
            user=f"{role}-{'-'.join(sites) or 'all'}",
            tenant=self.ledgers[tenant].tenant,
            tenant_id=self.tenant_ids[tenant],
            role=role,
            site_ids=frozenset(self.sites[n].id for n in sites) if sites else None,
            via="token",
        )

    def call(self, principal: Principal, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to ``/api/v1`` + ``path`` as ``principal`` (rate limits reset first)."""
        self.app.dependency_overrides[current_principal] = lambda: principal
        self.app.state.rate_limits = None
        try:
            response: httpx.Response = self.client.request(method, API + path, **kwargs)
            return response
        finally:
            self.app.dependency_overrides.pop(current_principal, None)

    def unique(self, prefix: str) -> str:
        self.counter[0] += 1
        return f"{prefix}-{self.counter[0]}"

    def member(self, site: str = "north", consent: bool = True) -> str:
        """A new member at ``site`` (acme unless ``west``), with a recognition consent."""
        ledger = self.ledgers["globex" if site == "west" else "acme"]
        member = add_member(ledger, site, self.unique("Member"), {"tier": "gold"})
        if consent:
            record_consent(ledger, member.id, purpose="recognition", evidence=self.evidence)
        return member.id

    def member_with_portrait(self, site: str = "north", jpeg: bytes = FAKE_JPEG) -> str:
        """A new member who consented to pictures for staff and has a reference portrait (the
        bytes of ``jpeg``, stored as enrolment would, without a face model)."""
        ledger = self.ledgers["globex" if site == "west" else "acme"]
        member_id = self.member(site)
        record_consent(
            ledger, member_id, purpose="portrait", evidence=self.evidence, notice_version="v3"
        )
        with ledger.store.transaction() as s:
            member = s.get(Member, member_id)
            assert member is not None
            store_portrait(s, ledger, member, jpeg)
        return member_id

    def rows(self) -> dict[str, int]:
        """Row count of every table (in the whole store): what a refused request must leave
        unchanged."""
        ledger = self.ledgers["acme"]
        with ledger.store.transaction() as s:
            return {
                table.name: int(s.execute(select(func.count()).select_from(table)).scalar_one())
                for table in Base.metadata.sorted_tables
            }


@dataclass(frozen=True)
class Server:
    """A store and the API over it, shared by the tests of a module (each test gets tenants of
    its own, so tests do not see each other's records)."""

    settings: Settings
    app: FastAPI
    client: TestClient
    folder: Path


@contextmanager
def running_server(backend: str, folder: Path) -> Iterator[Server]:
    with backend_settings(backend, folder / "store") as settings:
        open_ledger(settings, "test:setup", create=True)
        app = create_app(settings)
        with TestClient(app) as client:
            yield Server(settings, app, client, folder)


def new_world(server: Server) -> World:
    """Tenants acme and globex (names made unique in the store), their sites, a door camera at
    each site."""
    tag = uuid.uuid4().hex[:8]
    base = open_ledger(server.settings, "test:setup")
    ledgers = {t: dataclasses.replace(base, tenant=f"{t}-{tag}") for t in TENANTS}
    sites = {}
    for tenant, names in TENANTS.items():
        for name in names:
            sites[name] = add_site(ledgers[tenant], name, "eu")
            add_camera(ledgers[tenant], name, "door", "door.mp4", "door", True)
    with base.store.transaction() as s:
        tenant_ids = {t: ledger.tenant_id(s) for t, ledger in ledgers.items()}
    evidence = server.folder / f"evidence-{tag}.txt"
    evidence.write_text("I consent to face recognition. Signed, A. Member")
    return World(server.app, server.client, server.settings, ledgers, tenant_ids, sites, evidence)


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


def fake_face(source: object, settings: object = None) -> Face:
    """Stands in for ``vision.faces.enrolment_face``: a good-quality face with a random
    embedding, so authorisation tests need no face model."""
    vector = np.random.default_rng().standard_normal(128).astype(np.float32)
    return Face(
        detection=Detection(Box(10, 10, 210, 210), 1.0, "fake"),
        landmarks=Landmarks(
            ((60.0, 80.0), (90.0, 80.0), (160.0, 80.0), (130.0, 80.0), (110.0, 140.0))
        ),
        quality=Quality(True, (), 200, 150.0, 0.0, 0.0, 120.0, 0.0),
        embedding=vector / np.linalg.norm(vector),
    )


@pytest.fixture
def fake_faces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("consentcam.vision.faces.enrolment_face", fake_face)


def member_site(world: World, member_id: str) -> str:
    with world.ledgers["acme"].store.transaction() as s:
        member = s.get(Member, member_id)
        assert member is not None
        site = s.get(Site, member.site_id)
        assert site is not None
        return site.name
