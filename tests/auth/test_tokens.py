from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest
from sqlalchemy import select, update

from consentcam.auth.roles import Principal
from consentcam.auth.tokens import issue_token, parse_token, revoke_token, token_principal
from consentcam.auth.users import add_user, disable_user
from consentcam.consent.context import Ledger
from consentcam.consent.sites import add_site
from consentcam.errors import InputError, NotFound, PolicyError
from consentcam.store.models import ApiToken, AuditEntry, User, utcnow
from tests.support.auth import PASSWORD


def _principal(ledger: Ledger, token: str, now: dt.datetime | None = None) -> Principal | None:
    with ledger.store.transaction() as s:
        return token_principal(s, token, now)


def _row(ledger: Ledger, token_id: str) -> ApiToken:
    with ledger.store.transaction() as s:
        row = s.get(ApiToken, token_id)
        assert row is not None
        return row


def test_a_token_stands_for_its_user_and_only_its_hash_is_stored(ledger: Ledger) -> None:
    add_user(ledger, "bob", "admin", PASSWORD)
    issued = issue_token(ledger, "bob", "till 3")
    scheme, prefix, secret = issued.token.split("_", 2)
    assert scheme == "cc" and prefix == issued.prefix and len(prefix) >= 8
    assert len(secret) >= 43  # 32 random bytes, url-safe base64
    row = _row(ledger, issued.id)
    assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(vars(row)) and row.role == "admin" and row.site_ids is None
    principal = _principal(ledger, issued.token)
    assert principal is not None
    assert (principal.user, principal.tenant, principal.role, principal.via) == (
        "bob",
        "default",
        "admin",
        "token",
    )
    assert principal.site_ids is None and principal.actor == "user:bob@default"
    with ledger.store.transaction() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "token.issue")).scalar()
        assert entry is not None and secret not in str(entry.details)
        assert entry.details["prefix"] == prefix


def test_wrong_unknown_or_malformed_tokens_are_refused(ledger: Ledger) -> None:
    add_user(ledger, "bob", "staff", PASSWORD)
    token = issue_token(ledger, "bob", "t").token
    prefix, secret = parse_token(token) or ("", "")
    for bad in [
        f"cc_{prefix}_{secret[:-1]}x" if not secret.endswith("x") else f"cc_{prefix}_{secret}y",
        f"cc_{'A' * len(prefix)}_{secret}",
        f"xx_{prefix}_{secret}",
        f"cc_{prefix}_",
        "cc_short_secret",
        "",
        token + "é",
    ]:
        assert _principal(ledger, bad) is None, bad


def test_expired_and_revoked_tokens_stop_working(ledger: Ledger) -> None:
    add_user(ledger, "bob", "staff", PASSWORD)
    now = utcnow()
    issued = issue_token(ledger, "bob", "t", days=1, now=now)
    assert issued.expires_at == now + dt.timedelta(days=1)
    assert _principal(ledger, issued.token, now + dt.timedelta(hours=23)) is not None
    assert _principal(ledger, issued.token, now + dt.timedelta(days=1)) is None

    other = issue_token(ledger, "bob", "t2")
    revoke_token(ledger, other.prefix)
    assert _principal(ledger, other.token) is None
    with pytest.raises(InputError, match="already revoked"):
        revoke_token(ledger, other.id)
    with pytest.raises(NotFound):
        revoke_token(ledger, "nope")
    with pytest.raises(NotFound):  # another tenant cannot revoke it
        revoke_token(dataclasses.replace(ledger, tenant="acme"), issued.prefix)
    with pytest.raises(InputError, match="1-3650 days"):
        issue_token(ledger, "bob", "t3", days=0)


def test_last_use_is_recorded_at_most_once_a_minute(ledger: Ledger) -> None:
    add_user(ledger, "bob", "staff", PASSWORD)
    now = utcnow()
    issued = issue_token(ledger, "bob", "t", now=now)
    assert _row(ledger, issued.id).last_used_at is None
    _principal(ledger, issued.token, now + dt.timedelta(seconds=1))
    assert _row(ledger, issued.id).last_used_at == now + dt.timedelta(seconds=1)
    _principal(ledger, issued.token, now + dt.timedelta(seconds=30))
    assert _row(ledger, issued.id).last_used_at == now + dt.timedelta(seconds=1)
    _principal(ledger, issued.token, now + dt.timedelta(seconds=62))
    assert _row(ledger, issued.id).last_used_at == now + dt.timedelta(seconds=62)


GRANTS = [
    ("owner", "owner", True),
    ("owner", "kiosk", True),
    ("admin", "staff", True),
    ("admin", "owner", False),
    ("staff", "auditor", False),
    ("auditor", "staff", False),
    ("staff", "kiosk", True),
    ("kiosk", "staff", False),
]


def test_a_token_role_is_never_above_its_user(ledger: Ledger) -> None:
    for user_role in {u for u, _, _ in GRANTS}:
        add_user(ledger, user_role, user_role, PASSWORD)  # one user per role, named after it
    for user_role, token_role, allowed in GRANTS:
        if allowed:
            assert issue_token(ledger, user_role, "t", role=token_role).role == token_role
        else:
            with pytest.raises(PolicyError, match="cannot have role"):
                issue_token(ledger, user_role, "t", role=token_role)


def test_token_sites_are_a_subset_of_the_users(ledger: Ledger) -> None:
    north, south = add_site(ledger, "north", "eu"), add_site(ledger, "south", "eu")
    add_user(ledger, "bob", "staff", PASSWORD, ["north"])
    with pytest.raises(PolicyError, match="own sites"):
        issue_token(ledger, "bob", "t", site_names=["north", "south"])
    narrow = issue_token(ledger, "bob", "t", site_names=["north"])
    follows = issue_token(ledger, "bob", "t2")
    assert follows.site_ids is None
    for token in (narrow.token, follows.token):
        principal = _principal(ledger, token)
        assert principal is not None and principal.site_ids == frozenset({north.id})
        assert principal.covers(north.id) and not principal.covers(south.id)

    add_user(ledger, "amy", "admin", PASSWORD)
    scoped = _principal(ledger, issue_token(ledger, "amy", "t", site_names=["south"]).token)
    assert scoped is not None and scoped.site_ids == frozenset({south.id})


def test_tokens_follow_their_user_being_narrowed_or_disabled(ledger: Ledger) -> None:
    north = add_site(ledger, "north", "eu")
    add_site(ledger, "south", "eu")
    add_user(ledger, "bob", "admin", PASSWORD)
    everywhere = issue_token(ledger, "bob", "t", role="staff").token
    as_admin = issue_token(ledger, "bob", "t2").token  # the user's role when issued
    with ledger.store.transaction() as s:
        s.execute(update(User).where(User.name == "bob").values(site_ids=[north.id], role="staff"))
    narrowed = _principal(ledger, everywhere)
    assert narrowed is not None and narrowed.site_ids == frozenset({north.id})
    assert _principal(ledger, as_admin) is None  # the user no longer holds that role
    disable_user(ledger, "bob")
    assert _principal(ledger, everywhere) is None
    with pytest.raises(PolicyError, match="disabled"):
        issue_token(ledger, "bob", "t3")
