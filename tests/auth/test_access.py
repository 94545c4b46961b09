"""Managing users and tokens (issue 15, item 3): the last active owner, one-time passwords,
enable, role and site changes, removal, who may do what, token lists without secrets, and
tenant isolation. On SQLite and PostgreSQL (the ``ledger`` fixture)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from consentcam.auth.roles import Principal
from consentcam.auth.sessions import login, session_auth
from consentcam.auth.tokens import issue_token, list_tokens, revoke_token, token_principal
from consentcam.auth.users import (
    add_user,
    change_user,
    disable_user,
    enable_user,
    list_users,
    remove_user,
    reset_password,
)
from consentcam.consent.context import Ledger
from consentcam.consent.sites import add_site
from consentcam.errors import InputError, NotFound, PolicyError
from consentcam.store.models import ApiToken, AuditEntry, User, WebSession
from tests.support.auth import PASSWORD


def _snapshot(ledger: Ledger) -> dict[str, Any]:
    """What a refusal must leave unchanged: every user's row, the tokens and sessions, and the
    length of the audit log."""
    with ledger.store.transaction() as s:
        users = {
            u.name: (u.role, u.site_ids, u.disabled, u.password_hash)
            for u in s.execute(select(User)).scalars()
        }
        counts = {
            model.__name__: s.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (ApiToken, WebSession, AuditEntry)
        }
        return {"users": users, **counts}


def _audit(ledger: Ledger, action: str) -> list[AuditEntry]:
    with ledger.store.transaction() as s:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        return list(s.execute(query).scalars())


def _caller(ledger: Ledger, role: str, sites: frozenset[str] | None = None) -> Principal:
    with ledger.store.transaction() as s:
        tenant_id = ledger.tenant_id(s)
    return Principal("u-caller", f"the-{role}", ledger.tenant, tenant_id, role, sites, "session")


LAST_OWNER_ACTIONS: dict[str, Callable[[Ledger], object]] = {
    "remove": lambda ledger: remove_user(ledger, "olga"),
    "disable": lambda ledger: disable_user(ledger, "olga"),
    "demote": lambda ledger: change_user(ledger, "olga", role="admin"),
}


@pytest.mark.parametrize("action", sorted(LAST_OWNER_ACTIONS))
def test_the_last_active_owner_cannot_be_removed_disabled_or_demoted(
    ledger: Ledger, action: str
) -> None:
    add_user(ledger, "olga", "owner", PASSWORD)
    add_user(ledger, "otto", "owner", PASSWORD)
    disable_user(ledger, "otto")  # a disabled owner is no owner to fall back on
    add_user(ledger, "adam", "admin", PASSWORD)
    before = _snapshot(ledger)
    with pytest.raises(PolicyError, match="'olga' is the tenant's last active owner"):
        LAST_OWNER_ACTIONS[action](ledger)
    assert _snapshot(ledger) == before

    enable_user(ledger, "otto")  # with a second active owner, the same action goes through
    LAST_OWNER_ACTIONS[action](ledger)
    assert [u.name for u in list_users(ledger) if u.role == "owner" and not u.disabled] == ["otto"]


def test_a_reset_password_is_new_works_once_shown_and_ends_sessions(ledger: Ledger) -> None:
    add_user(ledger, "bob", "staff", PASSWORD)
    session = login(ledger.store, "default", "bob", PASSWORD, client="test")
    assert session is not None
    password = reset_password(ledger, "bob")
    assert re.fullmatch(r"[a-z2-9]{5}(-[a-z2-9]{5}){3}", password)
    assert password != reset_password(ledger, "bob")  # random each time
    password = reset_password(ledger, "bob")
    with ledger.store.transaction() as s:
        assert session_auth(s, session.session_id) is None
        row = s.execute(select(User).where(User.name == "bob")).scalar_one()
        assert row.password_hash and password not in row.password_hash
    assert login(ledger.store, "default", "bob", PASSWORD, client="test") is None
    assert login(ledger.store, "default", "bob", password, client="test") is not None
    entries = _audit(ledger, "user.password_reset")
    assert entries[0].details == {"name": "bob", "sessions_ended": 1}
    assert all(password not in str(e.details) for e in entries)


def test_disable_then_enable(ledger: Ledger) -> None:
    add_user(ledger, "bob", "staff", PASSWORD)
    token = issue_token(ledger, "bob", "till").token
    disable_user(ledger, "bob")
    assert login(ledger.store, "default", "bob", PASSWORD, client="test") is None
    with ledger.store.transaction() as s:
        assert token_principal(s, token) is None
    enable_user(ledger, "bob")
    with pytest.raises(InputError, match="not disabled"):
        enable_user(ledger, "bob")
    assert login(ledger.store, "default", "bob", PASSWORD, client="test") is not None
    with ledger.store.transaction() as s:
        assert token_principal(s, token) is not None
    [entry] = _audit(ledger, "user.enable")
    assert entry.details == {"name": "bob"} and entry.actor == ledger.actor


def test_change_role_and_sites_and_the_tokens_follow(ledger: Ledger) -> None:
    add_site(ledger, "north", "eu")
    south = add_site(ledger, "south", "eu")
    add_user(ledger, "bob", "admin", PASSWORD)
    token = issue_token(ledger, "bob", "t").token  # role admin, the user's sites
    info = change_user(ledger, "bob", role="staff", site_names=["south"])
    assert (info.role, info.sites) == ("staff", ["south"])
    with ledger.store.transaction() as s:
        assert token_principal(s, token) is None  # an admin token of a staff user: stopped
    kiosk = issue_token(ledger, "bob", "k", role="kiosk").token
    with ledger.store.transaction() as s:
        principal = token_principal(s, kiosk)
        assert principal is not None and principal.site_ids == frozenset({south.id})
    assert change_user(ledger, "bob", site_names=None).sites is None
    before = _snapshot(ledger)
    with pytest.raises(InputError, match="nothing to change"):
        change_user(ledger, "bob", role="staff")
    with pytest.raises(InputError, match="unknown role"):
        change_user(ledger, "bob", role="boss")
    with pytest.raises(NotFound, match="no site named 'east'"):
        change_user(ledger, "bob", site_names=["east"])
    assert _snapshot(ledger) == before
    details = [e.details for e in _audit(ledger, "user.change")]
    assert details == [
        {"name": "bob", "role": {"from": "admin", "to": "staff"}, "sites": ["south"]},
        {"name": "bob", "sites": None},
    ]


def test_remove_user_deletes_sessions_and_tokens_and_is_audited(ledger: Ledger) -> None:
    add_user(ledger, "bob", "staff", PASSWORD)
    token = issue_token(ledger, "bob", "t").token
    assert login(ledger.store, "default", "bob", PASSWORD, client="test") is not None
    removed = remove_user(ledger, "bob")
    assert removed.name == "bob" and list_users(ledger) == []
    with ledger.store.transaction() as s:
        assert token_principal(s, token) is None
        assert s.execute(select(func.count()).select_from(WebSession)).scalar_one() == 0
    assert login(ledger.store, "default", "bob", PASSWORD, client="test") is None
    [entry] = _audit(ledger, "user.remove")
    assert entry.details == {
        "name": "bob",
        "role": "staff",
        "sessions_ended": 1,
        "tokens_deleted": 1,
    }
    assert entry.subject == removed.id
    with pytest.raises(NotFound, match="no user named 'bob'"):
        remove_user(ledger, "bob")


REFUSED: list[tuple[str, str, Any]] = [
    ("admin", "adds an owner", lambda lg, by: add_user(lg, "x", "owner", PASSWORD, by=by)),
    ("admin", "resets an owner", lambda lg, by: reset_password(lg, "olga", by=by)),
    ("admin", "disables an owner", lambda lg, by: disable_user(lg, "olga", by=by)),
    ("admin", "removes an owner", lambda lg, by: remove_user(lg, "olga", by=by)),
    ("admin", "demotes an owner", lambda lg, by: change_user(lg, "olga", role="staff", by=by)),
    ("admin", "promotes to owner", lambda lg, by: change_user(lg, "sam", role="owner", by=by)),
    ("admin", "tokens an owner", lambda lg, by: issue_token(lg, "olga", "t", by=by)),
    ("staff", "lists users", lambda lg, by: list_users(lg, by=by)),
    ("staff", "adds staff", lambda lg, by: add_user(lg, "x", "staff", PASSWORD, by=by)),
    ("auditor", "lists tokens", lambda lg, by: list_tokens(lg, by=by)),
    ("kiosk", "issues a token", lambda lg, by: issue_token(lg, "sam", "t", by=by)),
]


@pytest.mark.parametrize(("role", "what", "act"), REFUSED, ids=[r[1] for r in REFUSED])
def test_callers_may_only_manage_roles_they_could_grant(
    ledger: Ledger, role: str, what: str, act: Any
) -> None:
    add_user(ledger, "olga", "owner", PASSWORD)
    add_user(ledger, "sam", "staff", PASSWORD)
    before = _snapshot(ledger)
    with pytest.raises(PolicyError):
        act(ledger, _caller(ledger, role))
    assert _snapshot(ledger) == before


def test_an_admin_manages_the_roles_below_owner_and_is_named_in_the_audit_log(
    ledger: Ledger,
) -> None:
    add_user(ledger, "olga", "owner", PASSWORD)
    admin = _caller(ledger, "admin")
    as_admin = dataclasses.replace(ledger, actor=admin.actor)
    add_user(as_admin, "sam", "staff", PASSWORD, by=admin)
    change_user(as_admin, "sam", role="admin", by=admin)
    reset_password(as_admin, "sam", by=admin)
    issued = issue_token(as_admin, "sam", "till", role="kiosk", by=admin)
    revoke_token(as_admin, issued.prefix, by=admin)
    disable_user(as_admin, "sam", by=admin)
    enable_user(as_admin, "sam", by=admin)
    remove_user(as_admin, "sam", by=admin)
    actions = ["user.add", "user.change", "user.password_reset", "token.issue", "token.revoke"]
    actions += ["user.disable", "user.enable", "user.remove"]
    for action in actions:
        assert [e.actor for e in _audit(ledger, action)][-1] == "user:the-admin@default", action


def test_a_caller_confined_to_some_sites_manages_nobody(ledger: Ledger) -> None:
    north = add_site(ledger, "north", "eu")
    add_user(ledger, "sam", "staff", PASSWORD, ["north"])
    confined = _caller(ledger, "owner", frozenset({north.id}))
    with pytest.raises(PolicyError, match="whole tenant"):
        list_users(ledger, by=confined)
    with pytest.raises(PolicyError, match="whole tenant"):
        add_user(ledger, "x", "staff", PASSWORD, ["north"], by=confined)
    with pytest.raises(PolicyError, match="whole tenant"):
        reset_password(ledger, "sam", by=confined)


def test_tokens_are_listed_without_secrets_and_revoked_ones_stop_working(
    ledger: Ledger,
) -> None:
    add_site(ledger, "north", "eu")
    add_user(ledger, "kim", "kiosk", PASSWORD)
    add_user(ledger, "bob", "staff", PASSWORD)
    kiosk = issue_token(ledger, "kim", "front tablet", site_names=["north"])
    other = issue_token(ledger, "bob", "till")
    listed = list_tokens(ledger)
    assert {(t.user, t.label, t.role, tuple(t.sites or ())) for t in listed} == {
        ("kim", "front tablet", "kiosk", ("north",)),
        ("bob", "till", "staff", ()),
    }
    secrets = [kiosk.token.split("_", 2)[2], other.token.split("_", 2)[2]]
    assert not [s for s in secrets if s in repr(listed)]
    assert not hasattr(listed[0], "secret_sha256") and not hasattr(listed[0], "token")
    revoke_token(ledger, kiosk.id)
    with ledger.store.transaction() as s:
        assert token_principal(s, kiosk.token) is None
        assert token_principal(s, other.token) is not None
    [state] = [t.revoked_at is not None for t in list_tokens(ledger) if t.id == kiosk.id]
    assert state


def test_users_and_tokens_stay_in_their_tenant(ledger: Ledger) -> None:
    acme = dataclasses.replace(ledger, tenant="acme")
    add_user(ledger, "bob", "staff", PASSWORD)
    issued = issue_token(ledger, "bob", "till")
    add_user(acme, "olga", "owner", PASSWORD)
    assert [u.name for u in list_users(acme)] == ["olga"]
    assert list_tokens(acme) == []
    before = _snapshot(ledger)
    for act in (
        lambda: reset_password(acme, "bob"),
        lambda: disable_user(acme, "bob"),
        lambda: remove_user(acme, "bob"),
        lambda: change_user(acme, "bob", role="kiosk"),
        lambda: revoke_token(acme, issued.id),
        lambda: issue_token(acme, "bob", "t"),
    ):
        with pytest.raises(NotFound):
            act()
    assert _snapshot(ledger) == before
