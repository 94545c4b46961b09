"""Authentication over HTTP: tokens, session cookies with CSRF, logout, rate limits, tenant and
site scoping of the routes in app.py, security headers and the one error shape."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import select, update

from consentcam.api.app import CONTENT_SECURITY_POLICY, create_app
from consentcam.api.security import (
    CSRF_COOKIE,
    CSRF_HEADER,
    LOGIN_FAILED,
    PUBLIC_ROUTES,
    SESSION_COOKIE,
    rate_limited,
)
from consentcam.auth.tokens import issue_token, revoke_token
from consentcam.auth.users import add_user, disable_user
from consentcam.config import Settings
from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger
from consentcam.consent.sites import add_camera
from consentcam.store.models import ApiToken, AuditEntry, Event
from tests.support.auth import PASSWORD, FakeClock, bearer, use_fast_hashing, user_with_token
from tests.support.clients import TestClient
from tests.support.events import place, record

API = "/api/v1"
STREAM = f"{API}/events/stream"
# Sent by every client here, as a browser sends it from the dashboard: cookie-authenticated
# unsafe requests must come from the server's own origin (tests/api/test_origin.py).
SAME_ORIGIN = {"Origin": "http://testserver"}


@dataclasses.dataclass
class Api:
    app: FastAPI
    client: TestClient
    clock: FakeClock
    ledger: Ledger

    def login(self, user: str, password: str = PASSWORD, **extra: Any) -> Any:
        body = {"username": user, "password": password, **extra}
        return self.client.post(f"{API}/auth/login", json=body)

    def fresh_client(self, **kwargs: Any) -> TestClient:
        return TestClient(self.app, **{"headers": SAME_ORIGIN, **kwargs})


@pytest.fixture
def api(ledger: Ledger, store_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    use_fast_hashing(monkeypatch)
    clock = FakeClock()
    app = create_app(store_settings, poll_interval_s=0.01, stream_max_idle_s=0, clock=clock)
    with TestClient(app, headers=SAME_ORIGIN) as client:
        yield Api(app, client, clock, ledger)


def _audit(ledger: Ledger, action: str) -> list[AuditEntry]:
    with ledger.store.transaction() as s:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        return list(s.execute(query).scalars())


def _seqs(body: str) -> list[int]:
    return [int(m) for m in re.findall(r"^id: (\d+)$", body, flags=re.MULTILINE)]


# Who may call at all.


def test_only_the_public_routes_answer_without_credentials(api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/openapi.json").status_code == 200
    assert api.client.get("/docs").status_code == 200
    checked = 0
    # Every documented operation: the routes in app.py, the login routes and every router.
    for route_path, operations in api.app.openapi()["paths"].items():
        if route_path in PUBLIC_ROUTES:
            continue
        assert route_path.startswith(API), f"{route_path} is outside {API}"
        path = re.sub(r"\{[^}]+\}", "x", route_path)
        for method in operations:
            response = api.client.request(method.upper(), path)
            assert response.status_code == 401, f"{method} {route_path}: {response.status_code}"
            assert response.json()["error"] and response.headers["www-authenticate"] == "Bearer"
            checked += 1
    assert checked >= 5  # the three app routes and logout/me at least


@pytest.mark.parametrize(
    "authorization",
    ["Basic Ym9iOnNlY3JldA==", "Bearer", "Bearer cc_nope_nope", "Token cc_x_y", "Bearer  "],
)
def test_bad_authorization_headers_get_401(api: Api, authorization: str) -> None:
    response = api.client.get(f"{API}/auth/me", headers={"Authorization": authorization})
    assert response.status_code == 401 and set(response.json()) == {"error"}


def test_tokens_authenticate_until_revoked_or_expired(api: Api) -> None:
    token = user_with_token(api.ledger, "bob", "staff")
    me = api.client.get(f"{API}/auth/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json() | {"permissions": []} == {
        "user": "bob",
        "tenant": "default",
        "role": "staff",
        "site_ids": None,
        "via": "token",
        "permissions": [],
    }
    assert "events:read" in me.json()["permissions"]
    revoke_token(api.ledger, token.split("_")[1])
    assert api.client.get(f"{API}/auth/me", headers=bearer(token)).status_code == 401

    other = issue_token(api.ledger, "bob", "t2").token
    with api.ledger.store.transaction() as s:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        s.execute(update(ApiToken).values(expires_at=past))
    assert api.client.get(f"{API}/auth/me", headers=bearer(other)).status_code == 401


# Sessions.


def test_login_sets_a_strict_http_only_cookie_and_returns_the_csrf_token(api: Api) -> None:
    add_user(api.ledger, "bob", "staff", PASSWORD)
    response = api.login("bob")
    assert response.status_code == 200
    body = response.json()
    assert (body["user"], body["role"], body["tenant"]) == ("bob", "staff", "default")
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    session = cookies[SESSION_COOKIE].lower()
    assert "httponly" in session and "samesite=strict" in session and "path=/" in session
    assert "max-age=43200" in session and "secure" not in session  # plain http here
    assert "httponly" not in cookies[CSRF_COOKIE].lower()
    assert f"{CSRF_COOKIE}={body['csrf_token']};" in cookies[CSRF_COOKIE]
    assert api.client.cookies[SESSION_COOKIE] != body["csrf_token"]
    assert PASSWORD not in response.text

    me = api.client.get(f"{API}/auth/me")
    assert me.status_code == 200 and me.json()["via"] == "session"
    assert me.json()["user"] == "bob"


def test_cookies_are_secure_over_https(api: Api) -> None:
    add_user(api.ledger, "bob", "staff", PASSWORD)
    with api.fresh_client(base_url="https://testserver") as client:
        response = client.post(f"{API}/auth/login", json={"username": "bob", "password": PASSWORD})
        assert response.status_code == 200
        assert all("secure" in c.lower() for c in response.headers.get_list("set-cookie"))
        assert response.headers["strict-transport-security"].startswith("max-age=")


def test_cookie_requests_need_the_csrf_header_on_unsafe_methods_bearer_ones_do_not(
    api: Api,
) -> None:
    add_user(api.ledger, "bob", "staff", PASSWORD)
    token = issue_token(api.ledger, "bob", "t").token
    csrf = api.login("bob").json()["csrf_token"]
    claim = {"camera": "nowhere", "member_id": "m"}
    assert api.client.get(STREAM).status_code == 200  # safe method: no header needed

    missing = api.client.post(f"{API}/claims", json=claim)
    assert missing.status_code == 403 and CSRF_HEADER in missing.json()["error"]
    wrong = api.client.post(f"{API}/claims", json=claim, headers={CSRF_HEADER: csrf + "x"})
    assert wrong.status_code == 403
    # With the header the request gets past authentication (to a 404 for the camera).
    passed = api.client.post(f"{API}/claims", json=claim, headers={CSRF_HEADER: csrf})
    assert passed.status_code == 404 and "nowhere" in passed.json()["error"]

    with api.fresh_client() as client:
        response = client.post(f"{API}/claims", json=claim, headers=bearer(token))
        assert response.status_code == 404


def test_logout_ends_the_session_on_the_server(api: Api) -> None:
    add_user(api.ledger, "bob", "staff", PASSWORD)
    csrf = api.login("bob").json()["csrf_token"]
    session_id = api.client.cookies[SESSION_COOKIE]
    assert api.client.post(f"{API}/auth/logout").status_code == 403  # CSRF applies here too
    response = api.client.post(f"{API}/auth/logout", headers={CSRF_HEADER: csrf})
    assert response.status_code == 204
    assert all("max-age=0" in c.lower() for c in response.headers.get_list("set-cookie"))
    with api.fresh_client() as client:
        replay = client.get(f"{API}/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={session_id}"})
        assert replay.status_code == 401
    assert len(_audit(api.ledger, "auth.logout")) == 1


def test_failed_logins_share_one_message_and_are_audited_without_the_password(api: Api) -> None:
    add_user(api.ledger, "bob", "staff", PASSWORD)
    add_user(api.ledger, "eve", "staff", PASSWORD)
    disable_user(api.ledger, "eve")
    attempts = [
        api.login("bob", "not the password"),
        api.login("nobody"),
        api.login("bob", tenant="nowhere"),
        api.login("eve"),
    ]
    assert {(r.status_code, r.text) for r in attempts} == {
        (401, json.dumps({"error": LOGIN_FAILED}, separators=(",", ":")))
    }
    assert SESSION_COOKIE not in api.client.cookies
    failed = _audit(api.ledger, "auth.login_failed")
    assert len(failed) == 4 and all(e.details["client"] == "testclient" for e in failed)
    dumped = json.dumps([e.details for e in failed])
    assert PASSWORD not in dumped and "not the password" not in dumped
    assert api.login("bob").status_code == 200
    assert len(_audit(api.ledger, "auth.login")) == 1


def test_a_disabled_user_loses_sessions_and_tokens_at_once(api: Api) -> None:
    token = user_with_token(api.ledger, "bob", "staff")
    assert api.login("bob").status_code == 200
    assert api.client.get(f"{API}/auth/me").status_code == 200
    disable_user(api.ledger, "bob")
    assert api.client.get(f"{API}/auth/me").status_code == 401
    with api.fresh_client() as client:
        assert client.get(f"{API}/auth/me", headers=bearer(token)).status_code == 401


# Tenants and sites.


def test_the_event_stream_shows_only_the_callers_tenant_and_sites(api: Api) -> None:
    acme = dataclasses.replace(api.ledger, tenant="acme")
    alpha, beta = place(api.ledger, "alpha"), place(api.ledger, "beta")
    acme_alpha = place(acme, "alpha")  # same site name, other tenant
    seqs = {w.site_id: record(api.ledger if w is not acme_alpha else acme, w)[0] for w in
            (alpha, beta, acme_alpha)}  # fmt: skip
    owner = user_with_token(api.ledger, "olivia", "owner")
    staff = user_with_token(api.ledger, "sam", "staff", ["alpha"])
    acme_owner = user_with_token(acme, "olivia", "owner")
    kiosk = user_with_token(api.ledger, "kim", "kiosk")

    def stream(token: str, **params: str) -> Any:
        headers = {**bearer(token), "Last-Event-ID": "0"}
        return api.client.get(STREAM, headers=headers, params=params)

    assert _seqs(stream(owner).text) == [seqs[alpha.site_id], seqs[beta.site_id]]
    assert _seqs(stream(staff).text) == [seqs[alpha.site_id]]
    assert _seqs(stream(acme_owner).text) == [seqs[acme_alpha.site_id]]
    assert _seqs(stream(acme_owner, site="alpha").text) == [seqs[acme_alpha.site_id]]
    for token, site in [(staff, "beta"), (acme_owner, "beta")]:
        response = stream(token, site=site)
        assert response.status_code == 404 and "no site named 'beta'" in response.json()["error"]
    assert stream(kiosk).status_code == 403


def test_claims_and_confirmations_stay_in_the_callers_tenant_and_sites(
    api: Api, evidence: Any
) -> None:
    acme = dataclasses.replace(api.ledger, tenant="acme")
    north, south = place(api.ledger, "north"), place(api.ledger, "south")
    add_camera(api.ledger, "north", "kiosk-n", "k.mp4", "verify", True)
    south_camera = add_camera(api.ledger, "south", "kiosk-s", "k.mp4", "verify", True)
    for where in (north, south):
        record_consent(api.ledger, where.member_id, purpose="recognition", evidence=evidence)
    north_staff = user_with_token(api.ledger, "sam", "staff", ["north"])
    acme_owner = user_with_token(acme, "olivia", "owner")
    auditor = user_with_token(api.ledger, "ada", "auditor")

    def claim(token: str, camera: str, member: str) -> Any:
        body = {"camera": camera, "member_id": member}
        return api.client.post(f"{API}/claims", json=body, headers=bearer(token))

    assert claim(north_staff, "kiosk-n", north.member_id).status_code == 201
    for token, camera in [(north_staff, "kiosk-s"), (north_staff, south_camera.id)]:
        response = claim(token, camera, south.member_id)
        assert response.status_code == 404 and "no camera" in response.json()["error"]
    assert claim(acme_owner, south_camera.id, south.member_id).status_code == 404
    assert claim(auditor, "kiosk-s", south.member_id).status_code == 403

    _, event = record(api.ledger, south)
    with api.ledger.store.transaction() as s:
        s.execute(update(Event).where(Event.id == event.id).values(status="pending"))
    url = f"{API}/events/{event.id}/confirm"
    for token in (north_staff, acme_owner):
        response = api.client.post(url, json={}, headers=bearer(token))
        assert response.status_code == 404 and event.id in response.json()["error"]
    assert api.client.post(url, json={}, headers=bearer(auditor)).status_code == 403
    owner = user_with_token(api.ledger, "olivia", "owner")
    done = api.client.post(url, json={}, headers=bearer(owner))
    assert done.status_code == 200 and done.json()["confirmed_by"] == "user:olivia@default"


# Rate limits.


def test_login_attempts_are_rate_limited_per_user_and_client(api: Api) -> None:
    add_user(api.ledger, "bob", "staff", PASSWORD)
    assert [api.login("bob", "wrong password").status_code for _ in range(5)] == [401] * 5
    limited = api.login("bob")  # even the right password waits
    assert limited.status_code == 429 and limited.headers["retry-after"] == "12"
    assert "too many requests" in limited.json()["error"]
    assert api.login("someone else").status_code == 401  # other names are not blocked
    api.clock.advance(12)
    assert api.login("bob").status_code == 200

    api.clock.advance(600)
    statuses = [api.login(f"guess{i}").status_code for i in range(21)]
    assert statuses == [401] * 20 + [429]


def test_rate_limited_is_a_reusable_dependency(api: Api) -> None:
    @api.app.get(f"{API}/limited", dependencies=[Depends(rate_limited("test", per_minute=2))])
    def limited() -> dict[str, str]:
        return {"ok": "yes"}

    assert [api.client.get(f"{API}/limited").status_code for _ in range(3)] == [200, 200, 429]
    api.clock.advance(30)
    assert api.client.get(f"{API}/limited").status_code == 200


# Response hygiene.


@pytest.mark.parametrize("path", ["/healthz", f"{API}/auth/me", "/nowhere", STREAM])
def test_security_headers_are_on_every_response(api: Api, path: str) -> None:
    response = api.client.get(path)
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["permissions-policy"] == "camera=(self)"
    assert (headers.get("cache-control") == "no-store") == path.startswith("/api/")
    assert "strict-transport-security" not in headers  # plain http


def test_the_docs_page_loads_everything_from_this_origin(api: Api) -> None:
    # Nothing is fetched at run time from elsewhere: an API on a shop's closed network still has
    # its docs, and no third-party script runs on the origin that holds staff sessions.
    page = api.client.get("/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "http" not in policy and "script-src 'self' 'unsafe-inline'" in policy
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for asset in assets:
        assert asset.startswith("/"), asset
        response = api.client.get(asset)
        assert response.status_code == 200 and len(response.content) > 1000, asset
    assert "http://" not in page.text and "https://" not in page.text
    # Swagger UI would otherwise send the schema's address to its public validator.
    assert '"validatorUrl": null' in page.text


def test_errors_share_one_json_shape(api: Api) -> None:
    not_found = api.client.get("/nowhere")
    assert not_found.status_code == 404 and not_found.json() == {"error": "Not Found"}
    wrong_method = api.client.put(f"{API}/auth/login")
    assert wrong_method.status_code == 405 and set(wrong_method.json()) == {"error"}
    secret = "a password that must not echo"
    invalid = api.login("bob", secret, role="owner")
    assert invalid.status_code == 422 and set(invalid.json()) == {"error"}
    assert "role" in invalid.json()["error"] and secret not in invalid.text
    empty = api.client.post(f"{API}/auth/login", json={"username": "bob", "password": "x" * 2000})
    assert empty.status_code == 422 and "x" * 20 not in empty.text


# The OpenAPI document says how to authenticate and what errors look like.


def test_the_document_declares_the_token_and_the_session_cookie(api: Api) -> None:
    document = api.app.openapi()
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiToken"] == schemes["apiToken"] | {"type": "http", "scheme": "bearer"}
    assert schemes["session"] == schemes["session"] | {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
    }
    either: list[dict[str, list[str]]] = [{"apiToken": []}, {"session": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            expected = None if path in PUBLIC_ROUTES else either
            assert operation.get("security") == expected, f"{method} {path}"
            if path not in PUBLIC_ROUTES:
                assert "401" in operation["responses"], f"{method} {path}"


def test_a_wrong_authorization_scheme_does_not_fall_back_to_the_cookie(api: Api) -> None:
    add_user(api.ledger, "bob", "staff", PASSWORD)
    assert api.login("bob").status_code == 200
    assert api.client.get(f"{API}/auth/me").status_code == 200
    basic = api.client.get(f"{API}/auth/me", headers={"Authorization": "Basic Ym9iOng="})
    assert basic.status_code == 401 and "Bearer" in basic.json()["error"]


def test_every_documented_error_is_the_one_error_shape(api: Api) -> None:
    """422 included: the app answers {"error": ...}, never FastAPI's {"detail": [...]}."""
    document = api.app.openapi()
    assert document["components"]["schemas"]["ErrorOut"]["required"] == ["error"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (
                        f"{method} {path} {status}"
                    )
    invalid = api.client.post(f"{API}/auth/login", json={})
    assert invalid.status_code == 422 and set(invalid.json()) == {"error"}


def test_the_document_lists_what_the_app_routes_and_login_answer(api: Api) -> None:
    paths = api.app.openapi()["paths"]

    def statuses(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    assert {"400", "401", "403", "404", "422"} <= statuses(f"{API}/claims", "post")
    assert {"400", "401", "403", "404", "422"} <= statuses(
        f"{API}/events/{{event_id}}/confirm", "post"
    )
    assert {"400", "401", "404"} <= statuses(STREAM, "get")
    assert statuses(f"{API}/auth/login", "post") == {"200", "400", "401", "422", "429"}
    assert "429" in statuses(f"{API}/members/{{member_id}}/enrol", "post")
    assert set(paths[STREAM]["get"]["responses"]["200"]["content"]) == {"text/event-stream"}
    # A body that is not UTF-8 JSON: the documented 400.
    garbled = api.client.post(
        f"{API}/auth/login", content=b"@~\xff\xfe5`", headers={"content-type": "application/json"}
    )
    assert garbled.status_code == 400 and set(garbled.json()) == {"error"}


def test_a_door_event_is_confirmed_or_dismissed_only_by_a_json_boolean(api: Api) -> None:
    where = place(api.ledger, "north")
    _, event = record(api.ledger, where)
    with api.ledger.store.transaction() as s:
        s.execute(update(Event).where(Event.id == event.id).values(status="pending"))
    owner = user_with_token(api.ledger, "olivia", "owner")
    url = f"{API}/events/{event.id}/confirm"
    for loose in (0, 1, "false", "no", None):
        response = api.client.post(url, json={"confirm": loose}, headers=bearer(owner))
        assert response.status_code == 422 and "confirm" in response.json()["error"], loose
    with api.ledger.store.transaction() as s:
        stored = s.get(Event, event.id)
        assert stored is not None and stored.status == "pending"
    dismissed = api.client.post(url, json={"confirm": False}, headers=bearer(owner))
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"


@pytest.mark.parametrize("value", [str(2**31), str(2**63), "9" * 5000, "-1", "1e3"])
def test_a_last_event_id_past_the_stored_seqs_is_refused(api: Api, value: str) -> None:
    token = user_with_token(api.ledger, "olivia", "owner")
    response = api.client.get(STREAM, headers={**bearer(token), "Last-Event-ID": value})
    assert response.status_code == 400 and "Last-Event-ID" in response.json()["error"]


def test_a_query_parameter_given_twice_is_refused(api: Api) -> None:
    """FastAPI would keep the last value silently; which one the caller meant is a guess."""
    token = user_with_token(api.ledger, "olivia", "owner")
    response = api.client.get(f"{API}/events?limit=5&limit=500", headers=bearer(token))
    assert response.status_code == 422 and "'limit'" in response.json()["error"]
    assert api.client.get(f"{API}/events?limit=5", headers=bearer(token)).status_code == 200
