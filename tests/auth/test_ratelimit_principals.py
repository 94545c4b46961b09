"""Rate-limit buckets per caller (issue 13, item 5): an authenticated caller spends their own
budget wherever they call from; anonymous calls are counted per client address in buckets of
their own, so they never spend a kiosk's budget. SQLite only: the buckets live in memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI

from consentcam.api.app import create_app
from consentcam.api.routes.enrolment import ENROL_PER_MINUTE
from consentcam.api.security import rate_limited
from consentcam.auth.ratelimit import bucket_key
from consentcam.auth.roles import Principal
from consentcam.config import load_settings
from consentcam.consent.context import Ledger, open_ledger
from consentcam.consent.sites import add_site
from tests.support.auth import FakeClock, bearer, user_with_token
from tests.support.clients import TestClient

API = "/api/v1"
PHOTO = ("photos", ("a.jpg", b"not really a photo", "image/jpeg"))


@dataclass
class Limited:
    app: FastAPI
    ledger: Ledger
    clock: FakeClock

    def client(self, address: str = "192.0.2.10") -> TestClient:
        return TestClient(self.app, client=(address, 50000))


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Limited]:
    """The API with a test route allowing two calls a minute, and site north."""
    settings = load_settings(data_dir=tmp_path / "store", dev=True)
    ledger = open_ledger(settings, "test:setup", create=True)
    add_site(ledger, "north", "eu")
    clock = FakeClock()
    app = create_app(settings, clock=clock)

    @app.get(f"{API}/limited", dependencies=[Depends(rate_limited("test", per_minute=2))])
    def limited_route() -> dict[str, str]:
        return {"ok": "yes"}

    yield Limited(app, ledger, clock)


def _principal(user_id: str) -> Principal:
    return Principal(user_id, "kim", "default", "t1", "kiosk", None, "token")


def test_keys_count_a_principal_anywhere_and_anonymous_calls_per_address() -> None:
    kim = _principal("u1")
    assert bucket_key(kim, "192.0.2.1") == bucket_key(kim, "192.0.2.2")
    assert bucket_key(kim, "192.0.2.1") != bucket_key(_principal("u2"), "192.0.2.1")
    assert bucket_key(None, "192.0.2.1") != bucket_key(None, "192.0.2.2")
    # A user id spelled like an address still lands in another namespace.
    assert bucket_key(_principal("192.0.2.1"), "x") != bucket_key(None, "192.0.2.1")


def test_anonymous_calls_do_not_spend_a_callers_budget(limited: Limited) -> None:
    kim = user_with_token(limited.ledger, "kim", "kiosk")
    sam = user_with_token(limited.ledger, "sam", "staff")
    client = limited.client()
    url = f"{API}/limited"
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 429]
    # Same address, authenticated: a budget of their own.
    assert [client.get(url, headers=bearer(kim)).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get(url, headers=bearer(sam)).status_code == 200
    # Kim from another address is still Kim.
    assert limited.client("192.0.2.99").get(url, headers=bearer(kim)).status_code == 429
    limited.clock.advance(30)
    assert client.get(url, headers=bearer(kim)).status_code == 200


def test_anonymous_enrolments_leave_the_kiosk_its_budget(limited: Limited) -> None:
    kim = user_with_token(limited.ledger, "kim", "kiosk")
    client = limited.client()
    url = f"{API}/members/no-such-member/enrol"
    anonymous = [client.post(url, files=[PHOTO]).status_code for _ in range(ENROL_PER_MINUTE)]
    assert anonymous == [401] * ENROL_PER_MINUTE
    # The kiosk at the same address gets its own answer (no such member), not 429.
    assert client.post(url, files=[PHOTO], headers=bearer(kim)).status_code == 404
