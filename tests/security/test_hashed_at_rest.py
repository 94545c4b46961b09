"""Credentials at rest: a copy of the SQLite store (the database file with its write-ahead log)
holds API token secrets, session ids and CSRF tokens only as SHA-256, passwords only as argon2id
hashes, webhook signing secrets only sealed, and no form of the template key.

Each search has a positive control: the hash that *is* stored is found in the same bytes, so a
pass cannot come from reading the wrong file or missing the write-ahead log.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from consentcam.api.app import create_app
from consentcam.api.security import SESSION_COOKIE
from consentcam.auth.tokens import issue_token
from consentcam.auth.users import add_user
from consentcam.config import load_settings
from consentcam.consent.context import DEV_KEY_FILE, open_ledger
from consentcam.consent.sites import add_site
from consentcam.events.webhooks import add_webhook
from tests.support.auth import bearer, use_fast_hashing
from tests.support.clients import TestClient
from tests.support.leaks import key_forms, sqlite_bytes, token_secret

API = "/api/v1"
PASSWORD = "at-rest-pw-Jd8%qW3*zP5!"


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).hexdigest().encode()


def test_a_copy_of_the_store_holds_no_usable_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_fast_hashing(monkeypatch)
    monkeypatch.delenv("CONSENTCAM_TEMPLATE_KEY", raising=False)
    monkeypatch.delenv("CONSENTCAM_TEMPLATE_KEY_FILE", raising=False)
    settings = load_settings(data_dir=tmp_path / "store", dev=True)
    ledger = open_ledger(settings, "test:security", create=True)
    add_site(ledger, "north", "eu")
    add_user(ledger, "olga", "owner", PASSWORD)
    issued = issue_token(ledger, "olga", "integration")
    _, webhook_secret = add_webhook(ledger, "https://staff.example.com/hooks/consentcam")

    with TestClient(create_app(settings)) as client:
        login = client.post(f"{API}/auth/login", json={"username": "olga", "password": PASSWORD})
        assert login.status_code == 200
        csrf = login.json()["csrf_token"]
        session_id = client.cookies[SESSION_COOKIE]
        # A token in use (its last use is written back) and a session in use.
        assert client.get(f"{API}/auth/me", headers=bearer(issued.token)).status_code == 200
        assert client.get(f"{API}/auth/me").status_code == 200
        dump = sqlite_bytes(settings.data_dir)

    secret = token_secret(issued.token)
    for name, value in {
        "token secret": secret,
        "whole token": issued.token,
        "session id": session_id,
        "CSRF token": csrf,
        "password": PASSWORD,
        "webhook secret": webhook_secret,
    }.items():
        found = value.encode() in dump  # not asserted directly: pytest would print the dump
        assert not found, f"{name} is stored in clear"
    key_text = (settings.data_dir / DEV_KEY_FILE).read_text().strip()
    key_found = [form for form in key_forms(key_text) if form.encode() in dump]
    assert not key_found, "a printable form of the template key is in the database"
    raw_found = ledger.keys.key in dump
    assert not raw_found, "the raw template key is in the database"

    # Positive controls: what is stored instead is there, in the same bytes.
    assert _sha256(secret) in dump and issued.prefix.encode() in dump
    assert _sha256(session_id) in dump and _sha256(csrf) in dump
    assert b"$argon2id$" in dump
