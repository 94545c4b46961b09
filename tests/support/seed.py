"""Seeded stores: what many tests start from.

``new_world``: tenant ``acme`` with sites ``north`` and ``south`` and tenant ``globex`` with site
``west``, a door camera at each, and callers of every role (``Principal`` records put in place
of authentication through ``dependency_overrides``, so tests exercise authorisation and scoping,
not login). ``build_chain``: three sites under different profiles with members, templates, a
webhook and purchases (what the compliance documents and signage read).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from consentcam.api.app import create_app
from consentcam.api.security import current_principal
from consentcam.auth.roles import Principal
from consentcam.config import Settings
from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger, open_ledger
from consentcam.consent.enrolment import enroll
from consentcam.consent.members import add_member
from consentcam.consent.pictures import store_portrait
from consentcam.consent.purchases import import_purchases
from consentcam.consent.sites import add_camera, add_site
from consentcam.events.webhooks import add_webhook
from consentcam.store.models import Base, Member, Site
from tests.support.clients import TestClient
from tests.support.faces import photo_face
from tests.support.stores import backend_settings

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


def member_site(world: World, member_id: str) -> str:
    with world.ledgers["acme"].store.transaction() as s:
        member = s.get(Member, member_id)
        assert member is not None
        site = s.get(Site, member.site_id)
        assert site is not None
        return site.name


def enrolled_member(
    ledger: Ledger, site: str, name: str, photo: Path, evidence: Path, **consent: Any
) -> str:
    """A member of ``site`` with a recognition consent (``consent``: more of ``record_consent``'s
    arguments, e.g. ``notice_version``) and a template from ``photo``; returns the member id."""
    member = add_member(ledger, site, name)
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence, **consent)
    enroll(ledger, member.id, [photo])
    return member.id


HOOK = "https://hooks.example/secret-path?token=s3cret"


@dataclass(frozen=True)
class Chain:
    ledger: Ledger
    enrolled: str  # member id at flagship with a template
    consented: str  # member id at flagship with consent, no template
    shanghai: str  # member id at shanghai with a template


def build_chain(
    ledger: Ledger, photos: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Chain:
    # Enrolment runs through the ledger and the store; only the face model's seconds per photo
    # are saved by reusing the photo's face.
    face = photo_face(photos / "obama.jpg")
    monkeypatch.setattr(
        "consentcam.vision.faces.enrolment_face", lambda source, settings=None: face
    )
    add_site(ledger, "flagship", "eu")
    add_camera(ledger, "flagship", "door", "door.mp4", "door", True)
    add_camera(ledger, "flagship", "entrance", "entrance.mp4", "count", False)
    add_site(ledger, "shanghai", "cn")
    add_camera(ledger, "shanghai", "kiosk", "/dev/video0", "verify", True)
    add_site(ledger, "portland", "us-portland")
    add_camera(ledger, "portland", "counter", "counter.mp4", "count", False)
    members = []
    for site, enrol in (("flagship", True), ("flagship", False), ("shanghai", True)):
        member = add_member(ledger, site, f"Member at {site}")
        record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
        if enrol:
            enroll(ledger, member.id, [photos / "obama.jpg"])
        members.append(member.id)
    add_webhook(ledger, HOOK, "flagship")
    pos = tmp_path / "pos.csv"
    pos.write_text(
        f"member_id,time,items,amount,currency\n{members[0]},2024-05-01T10:00:00Z,tea,3.50,EUR\n"
    )
    import_purchases(ledger, pos)
    return Chain(ledger, members[0], members[1], members[2])
