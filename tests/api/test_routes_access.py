"""The user and token routes (issue 15, item 3) on SQLite and PostgreSQL: secrets in the one
answer that creates them and never listed, revoked tokens and disabled users locked out, the
last owner kept, role refusals, audit entries naming the caller, and another tenant's users and
tokens answering as missing ones, byte for byte."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from sqlalchemy import select

from consentcam.api.schemas import Role
from consentcam.auth.roles import ROLES
from consentcam.auth.tokens import issue_token
from consentcam.auth.users import add_user
from consentcam.store.models import AuditEntry
from tests.support.auth import PASSWORD, bearer, use_fast_hashing
from tests.support.seed import API, World


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashing(monkeypatch)


def _audit(world: World, action: str) -> list[AuditEntry]:
    with world.ledgers["acme"].store.transaction() as s:
        query = select(AuditEntry).where(
            AuditEntry.action == action, AuditEntry.tenant_id == world.tenant_ids["acme"]
        )
        return list(s.execute(query.order_by(AuditEntry.seq)).scalars())


def _user_id(world: World, name: str, tenant: str = "acme") -> str:
    response = world.call(world.principal("owner", tenant), "GET", "/users")
    [found] = [u["id"] for u in response.json() if u["name"] == name]
    return str(found)


def _login(world: World, name: str, password: str) -> int:
    body = {"tenant": world.ledgers["acme"].tenant, "username": name, "password": password}
    world.app.state.rate_limits = None
    return int(world.client.post(f"{API}/auth/login", json=body).status_code)


def test_the_role_literal_lists_the_roles() -> None:
    assert typing.get_args(Role) == ROLES


def test_a_new_users_password_is_shown_once_and_works(world: World) -> None:
    owner = world.principal("owner")
    response = world.call(owner, "POST", "/users", json={"name": "nora", "role": "staff"})
    assert response.status_code == 201, response.text
    added = response.json()
    password = added.pop("password")
    assert added["name"] == "nora" and added["role"] == "staff" and added["sites"] is None
    listed = world.call(owner, "GET", "/users")
    assert password not in listed.text and "argon2" not in listed.text
    assert {"password", "password_hash"}.isdisjoint(listed.json()[0])
    assert _login(world, "nora", password) == 200
    [entry] = _audit(world, "user.add")
    assert entry.actor == owner.actor and password not in str(entry.details)


def test_a_reset_password_replaces_the_old_one(world: World) -> None:
    add_user(world.ledgers["acme"], "bob", "staff", PASSWORD)
    owner = world.principal("owner")
    response = world.call(owner, "POST", f"/users/{_user_id(world, 'bob')}/password")
    assert response.status_code == 200, response.text
    password = response.json()["password"]
    assert response.json()["user"]["name"] == "bob"
    assert _login(world, "bob", PASSWORD) == 401
    assert _login(world, "bob", password) == 200
    assert password not in world.call(owner, "GET", "/users").text
    [entry] = _audit(world, "user.password_reset")
    assert entry.actor == owner.actor and password not in str(entry.details)


def test_a_disabled_user_cannot_log_in_until_enabled(world: World) -> None:
    add_user(world.ledgers["acme"], "bob", "staff", PASSWORD)
    admin = world.principal("admin")
    user_id = _user_id(world, "bob")
    assert world.call(admin, "POST", f"/users/{user_id}/disable").json()["disabled"] is True
    assert _login(world, "bob", PASSWORD) == 401
    assert world.call(admin, "POST", f"/users/{user_id}/enable").json()["disabled"] is False
    assert _login(world, "bob", PASSWORD) == 200
    assert [e.actor for e in _audit(world, "user.disable")] == [admin.actor]


def test_a_tokens_secret_is_shown_once_and_a_revoked_token_stops_working(world: World) -> None:
    add_user(world.ledgers["acme"], "kim", "kiosk", PASSWORD)
    owner = world.principal("owner")
    body = {"user": "kim", "label": "front tablet", "role": "kiosk", "sites": ["north"]}
    response = world.call(owner, "POST", "/tokens", json=body)
    assert response.status_code == 201, response.text
    issued = response.json()
    token = issued.pop("token")
    assert issued["state"] == "active" and issued["sites"] == ["north"]
    secret = token.split("_", 2)[2]
    listed = world.call(owner, "GET", "/tokens")
    assert secret not in listed.text and "token" not in listed.json()[0]

    me = world.client.get(f"{API}/auth/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["role"] == "kiosk"
    revoked = world.call(owner, "POST", f"/tokens/{issued['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert world.client.get(f"{API}/auth/me", headers=bearer(token)).status_code == 401
    again = world.call(owner, "POST", f"/tokens/{issued['id']}/revoke")
    assert again.status_code == 400 and "already revoked" in again.json()["error"]
    assert [e.actor for e in _audit(world, "token.issue")] == [owner.actor]
    assert [e.actor for e in _audit(world, "token.revoke")] == [owner.actor]


LAST_OWNER: list[tuple[str, str, dict[str, Any]]] = [
    ("DELETE", "", {}),
    ("POST", "/disable", {}),
    ("PATCH", "", {"json": {"role": "admin"}}),
]


@pytest.mark.parametrize(
    ("method", "suffix", "kwargs"), LAST_OWNER, ids=["remove", "disable", "demote"]
)
def test_the_last_owner_is_kept(
    world: World, method: str, suffix: str, kwargs: dict[str, Any]
) -> None:
    add_user(world.ledgers["acme"], "olga", "owner", PASSWORD)
    olga = _user_id(world, "olga")
    before = world.rows()
    response = world.call(world.principal("owner"), method, f"/users/{olga}{suffix}", **kwargs)
    assert response.status_code == 403, response.text
    assert response.json() == {
        "error": "'olga' is the tenant's last active owner and cannot be "
        + {"DELETE": "removed", "POST": "disabled", "PATCH": "given the role 'admin'"}[method]
        + "; make another user owner first"
    }
    assert world.rows() == before


REFUSALS: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("admin", "POST", "/users", {"json": {"name": "x", "role": "owner"}}, "cannot give"),
    ("admin", "POST", "/users/{olga}/password", {}, "cannot manage 'olga'"),
    ("admin", "POST", "/users/{olga}/disable", {}, "cannot manage 'olga'"),
    ("admin", "DELETE", "/users/{olga}", {}, "cannot manage 'olga'"),
    ("admin", "PATCH", "/users/{sam}", {"json": {"role": "owner"}}, "cannot give"),
    ("admin", "POST", "/tokens", {"json": {"user": "olga", "label": "t"}}, "cannot manage"),
    ("staff", "GET", "/users", {}, "may not access:write"),
    ("auditor", "GET", "/tokens", {}, "may not access:write"),
]


@pytest.mark.parametrize(("role", "method", "path", "kwargs", "message"), REFUSALS)
def test_roles_are_refused_what_they_could_not_grant(
    world: World, role: str, method: str, path: str, kwargs: dict[str, Any], message: str
) -> None:
    add_user(world.ledgers["acme"], "olga", "owner", PASSWORD)
    add_user(world.ledgers["acme"], "sam", "staff", PASSWORD)
    path = path.format(olga=_user_id(world, "olga"), sam=_user_id(world, "sam"))
    before = world.rows()
    response = world.call(world.principal(role), method, path, **kwargs)
    assert response.status_code == 403, response.text
    assert message in response.json()["error"]
    assert world.rows() == before


def test_another_tenants_users_and_tokens_answer_as_missing_ones(world: World) -> None:
    add_user(world.ledgers["acme"], "bob", "staff", PASSWORD)
    token = issue_token(world.ledgers["acme"], "bob", "till")
    bob = _user_id(world, "bob")
    outsider = world.principal("owner", "globex")
    assert world.call(outsider, "GET", "/users").json() == []
    assert world.call(outsider, "GET", "/tokens").json() == []
    before = world.rows()
    for method, path, kwargs in [
        ("PATCH", "/users/{}", {"json": {"role": "kiosk"}}),
        ("POST", "/users/{}/password", {}),
        ("POST", "/users/{}/disable", {}),
        ("DELETE", "/users/{}", {}),
    ]:
        theirs = world.call(outsider, method, path.format(bob), **kwargs)
        missing = world.call(outsider, method, path.format("0" * 32), **kwargs)
        assert theirs.status_code == 404, theirs.text
        assert theirs.content.replace(bob.encode(), b"0" * 32) == missing.content
    revoke = world.call(outsider, "POST", f"/tokens/{token.id}/revoke")
    assert revoke.status_code == 404 and revoke.json() == {"error": f"no token '{token.id}'"}
    named = world.call(outsider, "POST", "/tokens", json={"user": "bob", "label": "t"})
    assert named.status_code == 404 and named.json() == {"error": "no user named 'bob'"}
    assert world.rows() == before
