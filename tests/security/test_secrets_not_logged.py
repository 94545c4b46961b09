"""Secrets are shown once, where they are meant to be, and never logged: passwords, API token
secrets, session ids, CSRF tokens, webhook signing secrets and template keys stay out of every
log record (captured at DEBUG), the CLI's stderr, the audit log and events.

The CLI flow runs the real entry point in-process: ``init --dev`` and a store keyed from the
environment, ``user add`` with CONSENTCAM_PASSWORD, ``user token`` (text and JSON), ``webhook
add`` (text and JSON), deliveries that sign with the secret (one receiver accepts, one is down),
and ``keys rotate``. The API flow logs in, fails to log in, calls with good and forged tokens,
sends invalid bodies, adds a webhook and logs out.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from consentcam.api.app import create_app
from consentcam.api.security import CSRF_HEADER, SESSION_COOKIE
from consentcam.auth.tokens import issue_token
from consentcam.auth.users import add_user
from consentcam.config import Settings, load_settings
from consentcam.consent.context import DEV_KEY_FILE, member_by_id, open_ledger
from consentcam.consent.sites import add_site
from consentcam.store.crypto import KEY_ENV, KEY_FILE_ENV
from tests.support.auth import bearer, use_fast_hashing
from tests.support.clients import TestClient
from tests.support.events import Place, Receiver, record
from tests.support.leaks import (
    assert_absent,
    audit_text,
    events_text,
    key_forms,
    log_text,
    token_secret,
)

Run = Callable[..., tuple[int, str, str]]
API = "/api/v1"
# Distinctive values, so a hit can only be the secret itself.
OWNER_PASSWORD = "owner-pw-Vq7!kR2#mZ9@xL4"
STAFF_PASSWORD = "staff-pw-Hc3$wN8^pT1&yB6"


def _new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _random_password() -> str:
    return "pw-" + secrets.token_urlsafe(18)


@pytest.fixture
def quiet_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (KEY_ENV, KEY_FILE_ENV, "CONSENTCAM_PASSWORD", "CONSENTCAM_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONSENTCAM_ACTOR", "test:security")
    # One attempt: the receiver that is down fails for good at once, which is logged.
    monkeypatch.setenv("CONSENTCAM_EVENTS__WEBHOOK_MAX_ATTEMPTS", "1")
    use_fast_hashing(monkeypatch)
    return monkeypatch


def test_cli_prints_each_secret_once_and_logs_none(
    run_cli: Run,
    tmp_path: Path,
    quiet_env: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    outs: list[str] = []
    errs: list[str] = []
    store = tmp_path / "store"

    def cli(*args: str, data_dir: Path = store) -> str:
        code, out, err = run_cli("--data-dir", str(data_dir), *args)
        outs.append(out)
        errs.append(err)
        assert code == 0, err
        return out

    # A development store: the generated key stays in its file and is never printed.
    cli("init", "--dev", data_dir=tmp_path / "dev")
    dev_key = (tmp_path / "dev" / DEV_KEY_FILE).read_text().strip()

    # A production-style store: the key comes from the environment.
    old_key = _new_key()
    quiet_env.setenv(KEY_ENV, old_key)
    cli("init")
    cli("site", "add", "north", "--jurisdiction", "eu")
    member_id = json.loads(cli("member", "add", "--site", "north", "--name", "Ada", "--json"))[
        "member_id"
    ]
    quiet_env.setenv("CONSENTCAM_PASSWORD", OWNER_PASSWORD)
    cli("user", "add", "olga", "--role", "owner")
    quiet_env.delenv("CONSENTCAM_PASSWORD")

    token_out = cli("user", "token", "olga", "--label", "till 3")
    token = token_out.strip()
    assert token_out == token + "\n" and token.startswith("cc_"), "one line: the token"
    json_token = json.loads(cli("user", "token", "olga", "--label", "api", "--json"))["token"]

    # The receivers are on this machine: the operator allows loopback (a local relay).
    quiet_env.setenv("CONSENTCAM_EVENTS__WEBHOOK_ALLOWED_NETWORKS", '["127.0.0.0/8"]')
    with Receiver() as receiver:
        hook = json.loads(cli("webhook", "add", receiver.url, "--site", "north", "--json"))
        receiver.secret = hook["secret"].encode()
        # Text mode, to a receiver that is down: the secret is on its one stdout line.
        down_out = cli("webhook", "add", "http://127.0.0.1:9/hooks/down")
        [down_secret] = [
            line.removeprefix("secret: ")
            for line in down_out.splitlines()
            if line.startswith("secret: ")
        ]
        settings = load_settings(data_dir=store)
        ledger = open_ledger(settings, "test:security")
        with ledger.store.transaction() as s:
            member = member_by_id(s, member_id)
            where = Place(member.tenant_id, member.site_id, "north", member.id)
        record(ledger, where)
        delivered = json.loads(cli("deliver", "--json"))
    assert delivered["delivered"] == 1 and delivered["failed"] == 1, delivered
    assert [r.verified for r in receiver.requests] == [True], "signed with the secret shown"
    assert any("failed for good" in r.getMessage() for r in caplog.records), "a logged failure"

    new_key = _new_key()
    new_key_file = tmp_path / "new.key"
    new_key_file.write_text(new_key + "\n")
    new_key_file.chmod(0o600)
    cli("keys", "rotate", "--new-key-file", str(new_key_file), "--json")
    quiet_env.setenv(KEY_ENV, new_key)
    cli("audit", "verify")
    cli("webhook", "list", "--json")
    cli("user", "list", "--json")

    stdout = "".join(outs)
    for name, shown_once in {
        "text token": token,
        "JSON token": json_token,
        "webhook secret (JSON)": hook["secret"],
        "webhook secret (text)": down_secret,
    }.items():
        assert stdout.count(shown_once) == 1, f"{name}: on stdout exactly once"
    ledger = open_ledger(load_settings(data_dir=store), "test:security")
    places = {
        "logs": log_text(caplog),
        "stderr": "".join(errs),
        "audit": audit_text(ledger),
        "events": events_text(ledger),
    }
    assert "not shown again" in places["stderr"], "the token's notice went to stderr"
    assert_absent(
        {
            "password": OWNER_PASSWORD,
            "text token's secret": token_secret(token),
            "JSON token's secret": token_secret(json_token),
            "webhook secret (JSON)": hook["secret"],
            "webhook secret (text)": down_secret,
            "template key": key_forms(old_key),
            "rotated-to key": key_forms(new_key),
            "development key": key_forms(dev_key),
        },
        places,
    )
    # Neither the password nor any key was ever printed, not even on stdout.
    assert_absent(
        {
            "password": OWNER_PASSWORD,
            "template key": key_forms(old_key),
            "rotated-to key": key_forms(new_key),
            "development key": key_forms(dev_key),
        },
        {"stdout": stdout},
    )


def test_api_logins_tokens_and_webhooks_log_no_secret(
    store_settings: Settings,
    quiet_env: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ledger = open_ledger(store_settings, "test:security", create=True)
    add_site(ledger, "north", "eu")
    add_user(ledger, "olga", "owner", OWNER_PASSWORD)
    add_user(ledger, "sam", "staff", STAFF_PASSWORD)
    issued = issue_token(ledger, "olga", "integration")
    wrong_password, unknown_user_password, extra_secret = (_random_password() for _ in range(3))
    forged = f"cc_{issued.prefix}_{secrets.token_urlsafe(32)}"
    responses: list[str] = []

    app = create_app(store_settings)
    with TestClient(app) as client:

        def call(method: str, path: str, status: int, **kwargs: object) -> dict[str, object]:
            response = client.request(method, API + path, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == status, response.text
            responses.append(response.text)
            return response.json() if response.content else {}

        login = "/auth/login"
        body = call("POST", login, 200, json={"username": "sam", "password": STAFF_PASSWORD})
        csrf = str(body["csrf_token"])
        session_id = client.cookies[SESSION_COOKIE]
        call("GET", "/auth/me", 200)
        call("POST", login, 401, json={"username": "sam", "password": wrong_password})
        call("POST", login, 401, json={"username": "nobody", "password": unknown_user_password})
        # Invalid bodies: the error names the fields, never the values sent.
        call("POST", login, 422, json={"username": "sam", "password": 12, "pin": extra_secret})
        call("POST", login, 422, json={"username": "sam", "password": "x" * 2000})
        call("GET", "/auth/me", 200, headers=bearer(issued.token))
        call("GET", "/auth/me", 401, headers=bearer(forged))
        hook = call(
            "POST",
            "/webhooks",
            201,
            json={"url": "https://staff.example.com/hooks/consentcam", "site": "north"},
            headers=bearer(issued.token),
        )
        # From the server's own origin, as the dashboard sends it (issue 13, item 10).
        own_origin = {CSRF_HEADER: csrf, "Origin": "http://testserver"}
        call("POST", "/auth/logout", 204, headers=own_origin)

    webhook_secret = str(hook["secret"])
    shown = "\n".join(responses)
    assert shown.count(webhook_secret) == 1, "the webhook secret is in its one response"
    dev_key = (store_settings.data_dir / DEV_KEY_FILE).read_text().strip()
    assert os.environ.get(KEY_ENV) is None, "this store's key is its development key file"
    secrets_ = {
        "owner password": OWNER_PASSWORD,
        "staff password": STAFF_PASSWORD,
        "wrong password": wrong_password,
        "password of an unknown user": unknown_user_password,
        "value of an unknown field": extra_secret,
        "token secret": token_secret(issued.token),
        "forged token secret": token_secret(forged),
        "session id": session_id,
        "CSRF token": csrf,
        "webhook secret": webhook_secret,
        "template key": key_forms(dev_key),
    }
    assert_absent(
        secrets_,
        {"logs": log_text(caplog), "audit": audit_text(ledger), "events": events_text(ledger)},
    )
    # Responses: only the login response carries the CSRF token (the cookie carries the
    # session), only the webhook's the secret; nothing echoes a password or token.
    assert_absent(
        {k: v for k, v in secrets_.items() if k not in ("CSRF token", "webhook secret")},
        {"responses": shown},
    )
    assert shown.count(csrf) == 1
