"""Webhooks over the API beyond add/list/remove: a signed test send to a real local receiver,
the deliveries and failures the store records, who may do either, and out-of-scope webhooks
answered exactly as missing ones."""

from __future__ import annotations

import ipaddress
import json
import socket
import time

import httpx
from sqlalchemy import select

from consentcam.api.routes.webhooks import TESTS_PER_MINUTE
from consentcam.api.security import current_principal
from consentcam.events.destinations import (
    IPAddress,
    PinnedTransport,
    destination_policy,
    webhook_client,
)
from consentcam.events.webhooks import deliver_due, send_test
from consentcam.store.models import AuditEntry
from tests.support.events import Place, Receiver, record
from tests.support.seed import API, World


def _add(world: World, url: str, site: str | None = "north") -> tuple[str, str]:
    created = world.call(
        world.principal("admin"), "POST", "/webhooks", json={"url": url, "site": site}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    return body["id"], body["secret"]


def _closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_test_send_reaches_the_receiver_signed_and_is_audited(world: World) -> None:
    with Receiver() as receiver:
        webhook_id, secret = _add(world, receiver.url)
        receiver.secret = secret.encode()
        answer = world.call(world.principal("owner"), "POST", f"/webhooks/{webhook_id}/test")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["delivered"] is True and result["status_code"] == 204
    assert result["error"] is None and "HTTP 204" in result["detail"]
    (got,) = receiver.requests
    assert got.verified  # signed with the webhook's own secret, as deliveries are
    document = json.loads(got.body)
    assert document["kind"] == "webhook.test" and document["seq"] == 0
    assert document["id"] == result["event_id"] == got.headers["Consentcam-Event-Id"]
    assert document["member_id"] is None and document["payload"]["test"] is True
    with world.ledgers["acme"].store.transaction() as s:
        entry = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "webhook.test", AuditEntry.subject == webhook_id
            )
        ).scalar_one()
        assert entry.details["status_code"] == 204 and entry.details["error"] is None
        assert "hooks" not in json.dumps(entry.details)  # the origin only, never the path


def test_a_failing_receiver_and_a_dead_one_are_reported_in_words(world: World) -> None:
    admin = world.principal("admin")
    with Receiver(fail_first=1) as receiver:
        webhook_id, secret = _add(world, receiver.url)
        receiver.secret = secret.encode()
        failed = world.call(admin, "POST", f"/webhooks/{webhook_id}/test").json()
    assert (failed["delivered"], failed["status_code"], failed["error"]) == (False, 500, "HTTP 500")
    assert "answered HTTP 500" in failed["detail"]
    assert "internal detail" not in json.dumps(failed)  # the receiver's body is never read

    dead_id, _ = _add(world, f"http://127.0.0.1:{_closed_port()}/hook")
    dead = world.call(admin, "POST", f"/webhooks/{dead_id}/test").json()
    assert (dead["delivered"], dead["status_code"], dead["error"]) == (False, None, "ConnectError")
    assert dead["detail"].startswith("could not connect to the receiver")


def test_deliveries_and_failures_are_listed_newest_first(world: World) -> None:
    ledger = world.ledgers["acme"]
    north = world.sites["north"]
    with Receiver(fail_first=1) as receiver:
        webhook_id, secret = _add(world, receiver.url)
        receiver.secret = secret.encode()
        where = Place(north.tenant_id, north.id, "north", world.member())
        first_seq, first = record(ledger, where)
        second_seq, second = record(ledger, where, kind="recognition.confirmed")
        with webhook_client(ledger.settings) as client:
            report = deliver_due(ledger, client)
    assert (report.attempted, report.delivered, report.retrying) == (2, 1, 1)

    admin = world.principal("admin")
    listed = world.call(admin, "GET", f"/webhooks/{webhook_id}/deliveries")
    assert listed.status_code == 200, listed.text
    rows = listed.json()
    assert [(r["event_id"], r["seq"]) for r in rows] == [
        (second.id, second_seq),
        (first.id, first_seq),
    ]
    newest, oldest = rows
    assert (newest["event_kind"], newest["status"], newest["attempts"]) == (
        "recognition.confirmed",
        "delivered",
        1,
    )
    assert newest["delivered_at"] is not None and newest["last_error"] is None
    assert newest["next_attempt_at"] is None
    assert (oldest["status"], oldest["attempts"], oldest["last_error"]) == (
        "pending",
        1,
        "HTTP 500",
    )
    assert "answered HTTP 500" in oldest["last_error_words"]
    assert oldest["next_attempt_at"] is not None  # retrying: when the next attempt is due

    failures = world.call(
        admin, "GET", f"/webhooks/{webhook_id}/deliveries", params={"failures": "true"}
    )
    assert [r["event_id"] for r in failures.json()] == [first.id]
    one = world.call(admin, "GET", f"/webhooks/{webhook_id}/deliveries", params={"limit": 1})
    assert [r["event_id"] for r in one.json()] == [second.id]
    too_many = world.call(admin, "GET", f"/webhooks/{webhook_id}/deliveries", params={"limit": 101})
    assert too_many.status_code == 422 and set(too_many.json()) == {"error"}

    # The listing agrees with the counts GET /webhooks gives.
    (hook,) = [h for h in world.call(admin, "GET", "/webhooks").json() if h["id"] == webhook_id]
    assert hook["deliveries"] == {"pending": 1, "delivered": 1, "failed": 0}


def test_only_webhook_managers_may_test_or_list_and_others_send_nothing(world: World) -> None:
    with Receiver() as receiver:
        webhook_id, _ = _add(world, receiver.url)
        for role in ("staff", "auditor", "kiosk"):
            caller = world.principal(role)
            for method, path in (
                ("POST", f"/webhooks/{webhook_id}/test"),
                ("GET", f"/webhooks/{webhook_id}/deliveries"),
            ):
                answer = world.call(caller, method, path)
                assert answer.status_code == 403, (role, method, answer.text)
                assert set(answer.json()) == {"error"}
        time.sleep(0.1)
        assert receiver.requests == []


def test_out_of_scope_webhooks_read_as_missing_and_get_nothing_sent(world: World) -> None:
    with Receiver() as receiver:
        webhook_id, _ = _add(world, receiver.url, site="north")
        tenant_wide_id, _ = _add(world, receiver.url, site=None)
        callers = {
            "other site": world.principal("admin", sites=("south",)),
            "other tenant": world.principal("owner", "globex"),
        }
        for path in ("/test", "/deliveries"):
            method = "POST" if path == "/test" else "GET"
            missing = world.call(callers["other site"], method, f"/webhooks/{'0' * 32}{path}")
            assert missing.status_code == 404
            for who, caller in callers.items():
                answer = world.call(caller, method, f"/webhooks/{webhook_id}{path}")
                # Same bytes as a webhook that does not exist, but for the id quoted in it.
                assert answer.status_code == 404, (who, answer.text)
                assert answer.text == missing.text.replace("0" * 32, webhook_id), who
            # A webhook for every site is the whole tenant's: a confined admin cannot test it.
            confined = world.call(
                callers["other site"], method, f"/webhooks/{tenant_wide_id}{path}"
            )
            assert confined.status_code == 404
        time.sleep(0.1)
        assert receiver.requests == []


def test_the_address_policy_refuses_a_test_to_a_private_address(world: World) -> None:
    """A host that resolves to a private address when the test is sent: the pinned client the
    deliveries use refuses it, and the answer names the address and the rule."""
    ledger = world.ledgers["acme"]
    webhook_id, _ = _add(world, "https://receiver.internal.example/hook")

    def private(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("10.0.0.5")]

    policy = destination_policy(ledger.settings)
    with httpx.Client(transport=PinnedTransport(policy, resolve=private)) as client:
        result = send_test(ledger, webhook_id, client)
    assert (result.delivered, result.status_code) == (False, None)
    assert result.error == "RefusedDestination"
    assert "10.0.0.5 is a private address" in result.detail


def test_test_sends_are_rate_limited_per_caller(world: World) -> None:
    with Receiver() as receiver:
        webhook_id, secret = _add(world, receiver.url)
        receiver.secret = secret.encode()
        admin = world.principal("admin")
        world.app.dependency_overrides[current_principal] = lambda: admin
        world.app.state.rate_limits = None
        try:
            answers = [
                world.client.post(f"{API}/webhooks/{webhook_id}/test")
                for _ in range(TESTS_PER_MINUTE + 1)
            ]
        finally:
            world.app.dependency_overrides.pop(current_principal, None)
            world.app.state.rate_limits = None
    assert [a.status_code for a in answers] == [200] * TESTS_PER_MINUTE + [429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert len(receiver.requests) == TESTS_PER_MINUTE  # the refused one sent nothing
    assert all(r.verified for r in receiver.requests)
