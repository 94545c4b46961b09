"""The Origin check behind the CSRF token (issue 13, item 10): a cookie-authenticated request
that changes state must come from this server's own origin (its Origin header, or its Referer
when a browser sends no Origin) or from an origin the operator allows; Bearer-token requests and
safe methods are not affected. SQLite only: the check never touches the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from consentcam.api.app import create_app
from consentcam.api.security import CSRF_HEADER
from consentcam.auth.users import add_user
from consentcam.config import load_settings
from consentcam.consent.context import open_ledger
from consentcam.consent.sites import add_site
from consentcam.errors import ConfigError
from consentcam.store.models import Member
from tests.support.auth import PASSWORD, bearer, use_fast_hashing, user_with_token
from tests.support.clients import TestClient

API = "/api/v1"
OWN = "http://testserver"  # TestClient's base URL: the origin the server sees itself at
SHOP = "https://shop.example"
Session = tuple[TestClient, str, str]  # a logged-in client, its CSRF token, an owner's token


@pytest.fixture
def open_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Session]]:
    """Log olga (owner) in on a fresh API; keyword arguments are API settings."""
    use_fast_hashing(monkeypatch)
    clients: list[TestClient] = []

    def open_(**api: object) -> Session:
        settings = load_settings(data_dir=tmp_path / f"store{len(clients)}", dev=True, api=api)
        ledger = open_ledger(settings, "test:setup", create=True)
        add_site(ledger, "north", "eu")
        add_user(ledger, "olga", "owner", PASSWORD)
        token = user_with_token(ledger, "otto", "owner")
        client = TestClient(create_app(settings))
        clients.append(client)
        login = client.post(f"{API}/auth/login", json={"username": "olga", "password": PASSWORD})
        assert login.status_code == 200
        return client, login.json()["csrf_token"], token

    yield open_
    for client in clients:
        client.close()


def add_member(client: TestClient, headers: dict[str, str]) -> tuple[int, str]:
    response = client.post(f"{API}/members", json={"site": "north", "name": "Ann"}, headers=headers)
    return response.status_code, response.json()["error"] if response.status_code >= 400 else ""


def members(client: TestClient) -> int:
    with client.app.state.store.transaction() as s:  # type: ignore[attr-defined]
        return int(s.execute(select(func.count()).select_from(Member)).scalar_one())


@pytest.mark.parametrize(
    "headers",
    [
        {},  # neither header: refused, as a browser always sends one of them
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame, a data: page
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "http://testserver:8080"},
        {"Origin": "https://testserver"},
        {"Referer": "https://evil.example/page"},
        {"Referer": "http://testserver.evil.example/dashboard"},
        {"Origin": "https://evil.example", "Referer": f"{OWN}/dashboard"},  # Origin decides
    ],
)
def test_a_cookie_request_from_another_origin_is_refused(
    open_session: Callable[..., Session], headers: dict[str, str]
) -> None:
    client, csrf, _ = open_session()
    status, error = add_member(client, {CSRF_HEADER: csrf, **headers})
    assert status == 403 and "origin" in error.lower()
    assert "evil" not in error and "testserver" not in error  # the submitted value is not echoed
    assert members(client) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": OWN},
        {"Origin": "http://testserver:80"},
        {"Origin": "HTTP://TestServer"},
        {"Referer": f"{OWN}/dashboard?tab=members"},
    ],
)
def test_a_cookie_request_from_this_origin_passes(
    open_session: Callable[..., Session], headers: dict[str, str]
) -> None:
    client, csrf, _ = open_session()
    assert add_member(client, {CSRF_HEADER: csrf, **headers}) == (201, "")


def test_the_csrf_token_is_still_needed_from_this_origin(
    open_session: Callable[..., Session],
) -> None:
    client, _, _ = open_session()
    status, error = add_member(client, {"Origin": OWN})
    assert status == 403 and CSRF_HEADER in error


def test_allowed_origins_are_accepted_besides_this_one(
    open_session: Callable[..., Session],
) -> None:
    client, csrf, _ = open_session(allowed_origins=[SHOP])
    assert add_member(client, {CSRF_HEADER: csrf, "Origin": SHOP}) == (201, "")
    assert add_member(client, {CSRF_HEADER: csrf, "Origin": OWN}) == (201, "")
    assert add_member(client, {CSRF_HEADER: csrf, "Origin": "https://shop.example.evil"})[0] == 403


def test_tokens_and_safe_methods_are_not_affected(open_session: Callable[..., Session]) -> None:
    client, _, token = open_session()
    evil = {"Origin": "https://evil.example"}
    assert add_member(client, {**bearer(token), **evil}) == (201, "")
    assert client.get(f"{API}/auth/me", headers=evil).status_code == 200  # cookie, GET
    assert client.get(f"{API}/sites/north/members", headers=evil).status_code == 200


def test_logout_needs_this_origin_too(open_session: Callable[..., Session]) -> None:
    client, csrf, _ = open_session()
    refused = client.post(f"{API}/auth/logout", headers={CSRF_HEADER: csrf})
    assert refused.status_code == 403
    assert client.get(f"{API}/auth/me").status_code == 200  # still logged in
    done = client.post(f"{API}/auth/logout", headers={CSRF_HEADER: csrf, "Origin": OWN})
    assert done.status_code == 204


@pytest.mark.parametrize(
    "origin", ["https://shop.example/", "shop.example", "ftp://shop.example", "https://a b"]
)
def test_allowed_origins_must_be_bare_origins(tmp_path: Path, origin: str) -> None:
    with pytest.raises(ConfigError, match="allowed_origins"):
        load_settings(data_dir=tmp_path, api={"allowed_origins": [origin]})
