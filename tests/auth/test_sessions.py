from __future__ import annotations

import dataclasses
import datetime as dt
import json

from argon2 import PasswordHasher
from sqlalchemy import select, update

from consentcam.auth.sessions import SESSION_TTL, digest, login, logout, session_auth
from consentcam.auth.users import add_user
from consentcam.consent.context import Ledger
from consentcam.consent.sites import add_site
from consentcam.store.models import AuditEntry, Tenant, User, WebSession, utcnow
from tests.support.auth import PASSWORD


def _audit(ledger: Ledger) -> list[AuditEntry]:
    with ledger.store.transaction() as s:
        query = select(AuditEntry).where(AuditEntry.action.like("auth.%")).order_by(AuditEntry.seq)
        return list(s.execute(query).scalars())


def test_login_starts_a_session_stored_only_as_hashes(ledger: Ledger) -> None:
    site = add_site(ledger, "north", "eu")
    add_user(ledger, "bob", "staff", PASSWORD, ["north"])
    now = utcnow()
    new = login(ledger.store, "default", "bob", PASSWORD, client="10.0.0.7", now=now)
    assert new is not None and new.expires_at == now + SESSION_TTL == now + dt.timedelta(hours=12)
    assert new.principal.via == "session" and new.principal.site_ids == frozenset({site.id})
    with ledger.store.transaction() as s:
        [row] = s.execute(select(WebSession)).scalars().all()
        assert row.id_sha256 == digest(new.session_id) != new.session_id
        assert row.csrf_sha256 == digest(new.csrf_token)
        auth = session_auth(s, new.session_id, now + dt.timedelta(hours=11))
    assert auth is not None and auth.principal == new.principal
    assert auth.csrf_ok(new.csrf_token)
    assert not auth.csrf_ok(None) and not auth.csrf_ok("") and not auth.csrf_ok(new.session_id)
    [entry] = _audit(ledger)
    assert entry.action == "auth.login" and entry.actor == "user:bob@default"
    assert entry.details["client"] == "10.0.0.7"


def test_sessions_expire_after_twelve_hours(ledger: Ledger) -> None:
    add_user(ledger, "bob", "staff", PASSWORD)
    now = utcnow()
    new = login(ledger.store, "default", "bob", PASSWORD, client="c", now=now)
    assert new is not None
    with ledger.store.transaction() as s:
        assert session_auth(s, new.session_id, now + SESSION_TTL) is None
    with ledger.store.transaction() as s:  # the expired row is gone
        assert s.execute(select(WebSession)).scalar() is None


def test_failed_logins_are_audited_without_the_password(ledger: Ledger) -> None:
    add_user(ledger, "bob", "staff", PASSWORD)
    add_user(ledger, "eve", "staff", PASSWORD)
    with ledger.store.transaction() as s:
        s.execute(update(User).where(User.name == "eve").values(disabled=True))
    attempts = [
        ("default", "bob", "wrong password!!", "wrong password"),
        ("default", "nobody", PASSWORD, "unknown user"),
        ("nowhere", "bob", PASSWORD, "unknown tenant"),
        ("default", "eve", PASSWORD, "user disabled"),
    ]
    for tenant, user, password, _ in attempts:
        assert login(ledger.store, tenant, user, password, client="c") is None
    entries = _audit(ledger)
    assert [e.action for e in entries] == ["auth.login_failed"] * 4
    assert [e.details["reason"] for e in entries] == [a[3] for a in attempts]
    assert all(e.actor == "anonymous" for e in entries)
    dumped = json.dumps([e.details for e in entries])
    assert PASSWORD not in dumped and "wrong password!!" not in dumped
    with ledger.store.transaction() as s:
        assert s.execute(select(WebSession)).scalar() is None
        # A login attempt never creates a tenant.
        assert s.execute(select(Tenant).where(Tenant.name == "nowhere")).scalar() is None
    assert entries[2].tenant_id is None
    # Names are kept as typed only when they exist: a password typed into either name field
    # must not stay in the append-only log.
    assert [(e.details["tenant"], e.details["user"]) for e in entries] == [
        ("default", "bob"),
        ("default", "(no such user)"),
        ("(no such tenant)", "(no such user)"),
        ("default", "eve"),
    ]


def test_login_rehashes_a_password_hashed_with_old_parameters(ledger: Ledger) -> None:
    add_user(ledger, "bob", "staff", PASSWORD)
    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(PASSWORD)
    with ledger.store.transaction() as s:
        s.execute(update(User).where(User.name == "bob").values(password_hash=old))
    assert login(ledger.store, "default", "bob", PASSWORD, client="c") is not None
    with ledger.store.transaction() as s:
        current = s.execute(select(User.password_hash).where(User.name == "bob")).scalar()
    assert current != old and current is not None and current.startswith("$argon2id$")
    assert login(ledger.store, "default", "bob", PASSWORD, client="c") is not None


def test_the_same_user_name_in_two_tenants_logs_into_its_own(ledger: Ledger) -> None:
    acme = dataclasses.replace(ledger, tenant="acme")
    add_user(ledger, "bob", "staff", PASSWORD)
    add_user(acme, "bob", "owner", PASSWORD + "!")
    assert login(ledger.store, "acme", "bob", PASSWORD, client="c") is None
    new = login(ledger.store, "acme", "bob", PASSWORD + "!", client="c")
    assert new is not None and (new.principal.tenant, new.principal.role) == ("acme", "owner")


def test_logout_ends_the_session(ledger: Ledger) -> None:
    add_user(ledger, "bob", "staff", PASSWORD)
    new = login(ledger.store, "default", "bob", PASSWORD, client="c")
    assert new is not None
    assert logout(ledger.store, new.session_id, new.principal)
    assert not logout(ledger.store, new.session_id, new.principal)
    with ledger.store.transaction() as s:
        assert session_auth(s, new.session_id) is None
    assert [e.action for e in _audit(ledger)] == ["auth.login", "auth.logout"]
