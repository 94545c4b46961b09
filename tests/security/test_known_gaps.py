"""Gaps the security review found (docs/threat-model.md, "Residual risks"), each written as the
behaviour we want. They were first strict expected failures; all four are fixed now, so these are
ordinary tests that keep them from reopening. A gap found later starts here the same way.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from consentcam.api.app import create_app
from consentcam.auth.users import add_user
from consentcam.config import Settings, load_settings
from consentcam.consent.consents import record_consent
from consentcam.consent.context import open_ledger
from consentcam.consent.enrolment import enroll
from consentcam.consent.gallery import SiteGallery
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_site
from consentcam.store.crypto import KEY_ENV, KEY_FILE_ENV
from consentcam.store.db import SQLITE_FILE
from consentcam.store.models import Consent, Template
from tests.support.auth import PASSWORD, use_fast_hashing
from tests.support.clients import TestClient
from tests.support.faces import fake_face
from tests.support.leaks import audit_text


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # what most services and shells run with
    try:
        yield
    finally:
        os.umask(previous)


def test_a_production_sqlite_store_is_private_to_its_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, usual_umask: None
) -> None:
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    monkeypatch.setenv(KEY_ENV, base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    data_dir = tmp_path / "store"
    open_ledger(load_settings(data_dir=data_dir, dev=False), "test:security", create=True)
    for path in (data_dir, data_dir / SQLITE_FILE):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.name} is {oct(mode)}: other local users can read it"


def test_postgres_refuses_truncating_the_audit_log(store_settings: Settings) -> None:
    if not store_settings.database_url:
        pytest.skip("TRUNCATE is PostgreSQL's; SQLite's triggers cover DELETE")
    ledger = open_ledger(store_settings, "test:security", create=True)
    add_site(ledger, "north", "eu")
    with pytest.raises(DBAPIError, match="append-only"), ledger.store.engine.begin() as c:
        c.execute(text("TRUNCATE audit"))


def test_a_password_typed_as_the_user_name_is_not_audited(
    store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_fast_hashing(monkeypatch)
    ledger = open_ledger(store_settings, "test:security", create=True)
    add_user(ledger, "olga", "owner", PASSWORD)
    with TestClient(create_app(store_settings)) as client:
        body = {"username": PASSWORD, "password": "olga"}
        assert client.post("/api/v1/auth/login", json=body).status_code == 401
    assert PASSWORD not in audit_text(ledger)


def test_a_template_moved_to_another_member_does_not_match_for_them(
    store_settings: Settings, evidence: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    face_a = fake_face(None)
    monkeypatch.setattr("consentcam.vision.faces.enrolment_face", lambda *_: face_a)
    ledger = open_ledger(store_settings, "test:security", create=True)
    site = add_site(ledger, "north", "eu")
    intruder, vip = add_member(ledger, "north", "Intruder"), add_member(ledger, "north", "VIP")
    for member in (intruder, vip):
        record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    enroll(ledger, intruder.id, [evidence])  # the photo is faked; any file will do

    # An insider with write access to the database, but not the key, edits two columns.
    with ledger.store.transaction() as s:
        vip_consent = s.execute(select(Consent.id).where(Consent.member_id == vip.id)).scalar()
        s.execute(
            update(Template)
            .where(Template.member_id == intruder.id)
            .values(member_id=vip.id, consent_id=vip_consent)
        )
    gallery = SiteGallery(ledger, site)
    gallery.refresh()  # the moved template no longer opens: skipped (and logged), not fatal
    assert gallery.identify(face_a.vector).member_id is None
    assert gallery.members == 0
