from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from consentcam.api.app import check_bind_host, create_app, status_code
from consentcam.config import Settings
from consentcam.consent.context import Ledger
from consentcam.errors import (
    ConfigError,
    Conflict,
    ConsentcamError,
    ConsentError,
    DependencyError,
    InputError,
    NotFound,
    PolicyError,
    SourceError,
)
from tests.support.auth import use_fast_hashing
from tests.support.clients import TestClient, token_client
from tests.support.events import place, record

STREAM = "/api/v1/events/stream"


@pytest.fixture
def client(
    ledger: Ledger, store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """A client authenticated as an owner of the default tenant (an API token)."""
    use_fast_hashing(monkeypatch)
    options = {"poll_interval_s": 0.01, "stream_max_idle_s": 0}
    with token_client(ledger, store_settings, "olivia", "owner", **options) as test_client:
        yield test_client


def _events(body: str) -> list[dict[str, Any]]:
    """Parse a text/event-stream body into {id, event, data} dicts (comments skipped)."""
    events = []
    for block in body.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if fields:
            events.append({**fields, "data": json.loads(fields["data"])})
    return events


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_stream_sends_events_in_seq_order_and_resumes_after_last_event_id(
    ledger: Ledger, client: TestClient
) -> None:
    a, b = place(ledger, "alpha"), place(ledger, "beta")
    seqs = [record(ledger, w, n=i)[0] for i, w in enumerate([a, a, b, a])]

    response = client.get(STREAM, headers={"Last-Event-ID": "0"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    events = _events(response.text)
    assert [int(e["id"]) for e in events] == seqs
    assert [e["data"]["payload"]["n"] for e in events] == [0, 1, 2, 3]
    assert all(e["event"] == "recognition" and e["data"]["seq"] == int(e["id"]) for e in events)

    resumed = _events(client.get(STREAM, headers={"Last-Event-ID": str(seqs[1])}).text)
    assert [int(e["id"]) for e in resumed] == seqs[2:]

    at_alpha = _events(
        client.get(STREAM, params={"site": "alpha"}, headers={"Last-Event-ID": "0"}).text
    )
    assert [int(e["id"]) for e in at_alpha] == [seqs[0], seqs[1], seqs[3]]


def test_a_new_stream_without_last_event_id_starts_at_the_next_event(
    ledger: Ledger, client: TestClient
) -> None:
    record(ledger, place(ledger))
    assert _events(client.get(STREAM).text) == []


def test_errors_map_to_statuses_with_a_json_body(client: TestClient) -> None:
    response = client.get(STREAM, params={"site": "nowhere"})
    assert response.status_code == 404 and "no site named 'nowhere'" in response.json()["error"]
    response = client.get(STREAM, headers={"Last-Event-ID": "-1"})
    assert response.status_code == 400 and "Last-Event-ID" in response.json()["error"]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InputError("x"), 400),
        (SourceError("x"), 400),
        (Conflict("x"), 409),
        (ConfigError("x"), 400),
        (PolicyError("x"), 403),
        (ConsentError("x"), 403),
        (NotFound("x"), 404),
        (DependencyError("x"), 500),
        (ConsentcamError("x"), 500),
    ],
)
def test_status_codes_follow_the_exception_tree(error: ConsentcamError, status: int) -> None:
    assert status_code(error) == status


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts_are_allowed(host: str) -> None:
    check_bind_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "shop.example.com"])
def test_other_hosts_need_tls(host: str) -> None:
    with pytest.raises(PolicyError, match="without TLS"):
        check_bind_host(host)
    check_bind_host(host, tls=True)
    check_bind_host(host, behind_proxy=True)


def test_create_app_needs_an_existing_store(tmp_path: Any) -> None:
    from consentcam.config import load_settings

    with pytest.raises(NotFound, match="consentcam init"):
        create_app(load_settings(data_dir=tmp_path / "missing", dev=True))


def test_claims_and_door_confirmations_over_the_api(
    ledger: Ledger, client: TestClient, evidence: Any
) -> None:
    from sqlalchemy import update

    from consentcam.consent.consents import record_consent
    from consentcam.consent.sites import add_camera
    from consentcam.store.models import Event

    where = place(ledger, "shop")
    add_camera(ledger, "shop", "kiosk", "kiosk.mp4", "verify", True)
    body = {"camera": "kiosk", "member_id": where.member_id, "ttl_s": 30}
    refused = client.post("/api/v1/claims", json=body)
    assert refused.status_code == 403 and "consent" in refused.json()["error"]
    record_consent(ledger, where.member_id, purpose="recognition", evidence=evidence)
    created = client.post("/api/v1/claims", json=body)
    assert created.status_code == 201 and created.json()["member_id"] == where.member_id
    missing = client.post("/api/v1/claims", json={**body, "camera": "nowhere"})
    assert missing.status_code == 404 and "nowhere" in missing.json()["error"]
    assert client.post("/api/v1/claims", json={**body, "ttl_s": -1}).status_code == 422
    huge = client.post("/api/v1/claims", json={**body, "camera": "c" * 10_000})
    assert huge.status_code == 422 and len(huge.content) < 2_000  # not echoed back

    _, event = record(ledger, where)
    with ledger.store.transaction() as s:
        s.execute(update(Event).where(Event.id == event.id).values(status="pending"))
    url = f"/api/v1/events/{event.id}/confirm"
    done = client.post(url, json={"confirm": True})
    assert done.status_code == 200 and done.json()["status"] == "confirmed"
    again = client.post(url, json={"confirm": False})
    assert again.status_code == 400 and "needs no confirmation" in again.json()["error"]
    assert client.post("/api/v1/events/nope/confirm", json={}).status_code == 404


def test_pictures_for_staff_over_the_api(ledger: Ledger, client: TestClient, evidence: Any) -> None:
    """The portrait and a door snapshot are served as JPEG that no cache may keep, each view
    audited; a dismissed alert's snapshot is gone (404); without the consent, nothing."""
    from sqlalchemy import select, update

    from consentcam.consent.consents import record_consent
    from consentcam.consent.pictures import keep_snapshot, store_portrait
    from consentcam.store.models import AuditEntry, Event, Member

    where = place(ledger, "shop")
    member_url = f"/api/v1/members/{where.member_id}"
    assert client.get(f"{member_url}/portrait").status_code == 404
    assert client.get(member_url).json()["portrait"] is None
    for purpose in ("recognition", "portrait"):
        record_consent(
            ledger, where.member_id, purpose=purpose, evidence=evidence, notice_version="v3"
        )
    _, event = record(ledger, where)
    with ledger.store.transaction() as s:
        member = s.get(Member, where.member_id)
        assert member is not None
        store_portrait(s, ledger, member, b"\xff\xd8\xff portrait")
        assert keep_snapshot(s, ledger.keys, member, event.id, b"\xff\xd8\xff door")
        s.execute(update(Event).where(Event.id == event.id).values(status="pending"))

    portrait = client.get(f"{member_url}/portrait")
    assert portrait.status_code == 200 and portrait.content == b"\xff\xd8\xff portrait"
    assert portrait.headers["content-type"] == "image/jpeg"
    assert portrait.headers["cache-control"] == "no-store"
    assert client.get(member_url).json()["portrait"] == f"{member_url}/portrait"
    snapshot_url = f"/api/v1/events/{event.id}/snapshot"
    snapshot = client.get(snapshot_url)
    assert snapshot.status_code == 200 and snapshot.content == b"\xff\xd8\xff door"
    with ledger.store.transaction() as s:
        actions = list(s.execute(select(AuditEntry.action)).scalars())
    assert "portrait.view" in actions and "snapshot.view" in actions

    dismissed = client.post(f"/api/v1/events/{event.id}/confirm", json={"confirm": False})
    assert dismissed.status_code == 200
    gone = client.get(snapshot_url)
    assert gone.status_code == 404 and "no snapshot" in gone.json()["error"]
    assert client.get("/api/v1/events/nope/snapshot").status_code == 404
