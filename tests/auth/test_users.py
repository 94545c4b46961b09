from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select

from consentcam.auth.sessions import login, session_auth
from consentcam.auth.users import add_user, disable_user, list_users
from consentcam.consent.context import Ledger
from consentcam.consent.sites import add_site
from consentcam.errors import InputError, NotFound
from consentcam.store.models import AuditEntry, User
from tests.support.auth import PASSWORD


def _audit(ledger: Ledger, action: str) -> list[AuditEntry]:
    with ledger.store.transaction() as s:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        return list(s.execute(query).scalars())


def test_add_user_stores_a_hash_and_audits_without_secrets(ledger: Ledger) -> None:
    flagship = add_site(ledger, "flagship", "eu")
    user = add_user(ledger, "bob", "staff", PASSWORD, ["flagship"])
    with ledger.store.transaction() as s:
        row = s.get(User, user.id)
        assert row is not None and row.site_ids == [flagship.id] and not row.disabled
        assert row.password_hash and row.password_hash.startswith("$argon2id$")
        assert row.tenant_id == ledger.tenant_id(s)
    [entry] = _audit(ledger, "user.add")
    assert entry.details == {"name": "bob", "role": "staff", "sites": ["flagship"]}
    assert entry.actor == ledger.actor and entry.subject == user.id
    dumped = json.dumps(entry.details)
    assert PASSWORD not in dumped and "argon2" not in dumped


@pytest.mark.parametrize(
    ("name", "role", "password", "sites", "error", "message"),
    [
        ("bob", "boss", PASSWORD, None, InputError, "unknown role 'boss'"),
        ("bob", "staff", "too short", None, InputError, "at least 12 characters"),
        ("", "staff", PASSWORD, None, InputError, "user name"),
        ("bob", "staff", PASSWORD, ["nowhere"], NotFound, "no site named 'nowhere'"),
        ("bob", "staff", PASSWORD, [], InputError, "at least one site"),
    ],
)
def test_bad_users_are_refused_and_nothing_is_stored(
    ledger: Ledger,
    name: str,
    role: str,
    password: str,
    sites: list[str] | None,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        add_user(ledger, name, role, password, sites)
    assert list_users(ledger) == [] and _audit(ledger, "user.add") == []


def test_names_are_unique_per_tenant_and_sites_resolve_in_the_tenant(ledger: Ledger) -> None:
    acme = dataclasses.replace(ledger, tenant="acme")
    add_site(ledger, "flagship", "eu")
    add_user(ledger, "bob", "staff", PASSWORD)
    with pytest.raises(InputError, match="already exists"):
        add_user(ledger, "bob", "admin", PASSWORD)
    with pytest.raises(NotFound, match="flagship"):
        add_user(acme, "bob", "staff", PASSWORD, ["flagship"])  # the default tenant's site
    add_user(acme, "bob", "owner", PASSWORD)  # same name, other tenant
    assert [(u.name, u.role) for u in list_users(ledger)] == [("bob", "staff")]
    assert [(u.name, u.role) for u in list_users(acme)] == [("bob", "owner")]


def test_list_users_names_sites(ledger: Ledger) -> None:
    add_site(ledger, "north", "eu")
    add_site(ledger, "south", "eu")
    add_user(ledger, "zoe", "admin", PASSWORD)
    add_user(ledger, "amy", "staff", PASSWORD, ["south", "north"])
    users = list_users(ledger)
    assert [(u.name, u.sites, u.disabled) for u in users] == [
        ("amy", ["north", "south"], False),
        ("zoe", None, False),
    ]


def test_disable_user_ends_sessions_and_is_audited(ledger: Ledger) -> None:
    add_user(ledger, "bob", "staff", PASSWORD)
    session = login(ledger.store, "default", "bob", PASSWORD, client="test")
    assert session is not None
    disable_user(ledger, "bob")
    with ledger.store.transaction() as s:
        assert session_auth(s, session.session_id) is None
    assert login(ledger.store, "default", "bob", PASSWORD, client="test") is None
    [entry] = _audit(ledger, "user.disable")
    assert entry.details == {"name": "bob", "sessions_ended": 1}
    assert list_users(ledger)[0].disabled
    with pytest.raises(InputError, match="already disabled"):
        disable_user(ledger, "bob")
    with pytest.raises(NotFound, match="no user named 'eve'"):
        disable_user(ledger, "eve")
