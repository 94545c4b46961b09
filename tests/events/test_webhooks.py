from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random

import httpx
import pytest
from sqlalchemy import select

from consentcam.audit.chain import verify
from consentcam.config import EventSettings
from consentcam.consent.context import Ledger
from consentcam.errors import ConfigError, InputError, NotFound
from consentcam.events.webhooks import (
    ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    add_webhook,
    deliver_due,
    list_webhooks,
    open_secret,
    remove_webhook,
    retry_delay,
    verify_signature,
)
from consentcam.store.crypto import TemplateKeys
from consentcam.store.models import AuditEntry, Delivery, Webhook, utcnow
from tests.support.events import Received, Receiver, place, record


def _delivery(ledger: Ledger) -> Delivery:
    with ledger.store.transaction() as s:
        return s.execute(select(Delivery)).scalar_one()


def _with_events(ledger: Ledger, **changes: float) -> Ledger:
    events = EventSettings(**changes)
    return dataclasses.replace(
        ledger, settings=ledger.settings.model_copy(update={"events": events})
    )


def test_add_webhook_seals_the_secret_and_audits_without_it(ledger: Ledger) -> None:
    place(ledger)
    hook, secret = add_webhook(ledger, "https://staff.example.com/hooks/t0ken?key=abc", "flagship")
    assert secret.startswith("whsec_") and len(secret) > 40
    with ledger.store.transaction() as s:
        stored = s.get(Webhook, hook.id)
        assert stored is not None and stored.key_id == ledger.keys.key_id
        assert secret.encode() not in stored.secret_sealed
        assert open_secret(ledger.keys, stored) == secret.encode()
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "webhook.add")).scalars()
        details = [e.details for e in entries]
        assert verify(s).ok
    assert details == [{"origin": "https://staff.example.com", "site": "flagship"}]
    with pytest.raises(ConfigError, match="does not open with the loaded key"):
        open_secret(TemplateKeys(b"k" * 32), stored)


def test_a_sealed_secret_is_bound_to_its_webhook(ledger: Ledger) -> None:
    first, _ = add_webhook(ledger, "https://a.example.com/")
    second, _ = add_webhook(ledger, "https://b.example.com/")
    swapped = Webhook(id=second.id, tenant_id=second.tenant_id, secret_sealed=first.secret_sealed)
    with pytest.raises(ConfigError):
        open_secret(ledger.keys, swapped)


BAD_URLS = [
    ("ftp://example.com/hook", "http:// or https://"),
    ("example.com/hook", "http:// or https://"),
    ("https:///nohost", "http:// or https://"),
    ("http://user:pw@example.com/hook", "user name or password"),
    ("https://example.com/" + "x" * 2000, "longer than"),
    ("http://[::1/hook", "not a valid URL"),
]


def test_bad_webhook_urls_are_refused(ledger: Ledger) -> None:
    for url, message in BAD_URLS:
        with pytest.raises(InputError, match=message):
            add_webhook(ledger, url)
    assert list_webhooks(ledger) == []


def test_unknown_site_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFound, match="no site"):
        add_webhook(ledger, "https://example.com/hook", "nowhere")


def test_list_and_remove_webhooks(ledger: Ledger) -> None:
    where = place(ledger)
    hook, secret = add_webhook(ledger, "https://a.example.com/hook", where.site_name)
    everywhere, _ = add_webhook(ledger, "https://b.example.com/hook")
    record(ledger, where)
    listed = {h.id: h for h in list_webhooks(ledger)}
    assert listed[hook.id].site == "flagship" and listed[everywhere.id].site is None
    assert listed[hook.id].deliveries == {"pending": 1, "delivered": 0, "failed": 0}
    assert secret not in json.dumps([h.as_dict() for h in listed.values()])

    removed = remove_webhook(ledger, hook.id)
    assert removed.id == hook.id and removed.deliveries["pending"] == 1
    assert [h.id for h in list_webhooks(ledger)] == [everywhere.id]
    with ledger.store.transaction() as s:
        assert {d.webhook_id for d in s.execute(select(Delivery)).scalars()} == {everywhere.id}
        entry = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar()
        assert entry is not None and entry.action == "webhook.remove" and entry.subject == hook.id
    with pytest.raises(NotFound, match="no webhook"):
        remove_webhook(ledger, hook.id)


def test_delivery_to_a_real_receiver_retries_then_succeeds(ledger: Ledger) -> None:
    where = place(ledger)
    seen_in_handler: list[Delivery] = []

    def during_send(_: Received) -> None:
        # The claim is committed before the request goes out, and no transaction is held
        # while it is in flight: another connection sees the lease, not the old due time.
        seen_in_handler.append(_delivery(ledger))

    with Receiver(fail_first=2, on_request=during_send) as receiver:
        _, secret = add_webhook(ledger, receiver.url, where.site_name)
        receiver.secret = secret.encode()
        seq, event = record(ledger, where)
        t0 = utcnow()
        rng = random.Random(4)
        with httpx.Client(trust_env=False) as client:
            first = deliver_due(ledger, client, now=t0, rng=rng)
            assert first.attempted == 1 and first.retrying == 1
            d1 = _delivery(ledger)
            # Not due again until its backoff has passed: nothing is sent in between.
            assert deliver_due(ledger, client, now=t0, rng=rng).attempted == 0
            second = deliver_due(ledger, client, now=d1.next_attempt_at, rng=rng)
            assert second.retrying == 1
            d2 = _delivery(ledger)
            third = deliver_due(ledger, client, now=d2.next_attempt_at, rng=rng)
            assert third.delivered == 1
            d3 = _delivery(ledger)
            later = d3.next_attempt_at + dt.timedelta(hours=1)
            assert deliver_due(ledger, client, now=later).attempted == 0

    assert receiver.errors == []
    assert len(receiver.requests) == 3 and all(r.verified for r in receiver.requests)
    assert [r.headers[ATTEMPT_HEADER] for r in receiver.requests] == ["1", "2", "3"]
    assert {r.headers[EVENT_ID_HEADER] for r in receiver.requests} == {event.id}
    body = json.loads(receiver.requests[0].body)
    assert body["seq"] == seq and body["id"] == event.id and body["kind"] == "recognition"

    wait1 = d1.next_attempt_at - t0
    wait2 = d2.next_attempt_at - d1.next_attempt_at
    assert dt.timedelta(seconds=1.6) <= wait1 <= dt.timedelta(seconds=2.4)  # 2 s +-20%
    assert dt.timedelta(seconds=3.2) <= wait2 <= dt.timedelta(seconds=4.8)  # doubled
    assert (d1.attempts, d2.attempts, d3.attempts) == (1, 2, 3)
    assert d1.last_error == d2.last_error == "HTTP 500"  # the reason, never the body
    assert d3.status == "delivered" and d3.last_error is None
    assert d3.delivered_at == d2.next_attempt_at
    assert [d.attempts for d in seen_in_handler] == [0, 1, 2]
    assert seen_in_handler[0].next_attempt_at > t0  # leased by the committed claim


def test_delivery_fails_after_max_attempts(ledger: Ledger) -> None:
    ledger = _with_events(ledger, webhook_max_attempts=3, webhook_backoff_s=10)
    where = place(ledger)
    add_webhook(ledger, "https://staff.example.com/hook")
    record(ledger, where)
    sent: list[httpx.Request] = []

    def unavailable(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(503, text="maintenance, see https://status.example.com")

    now = utcnow()
    with httpx.Client(transport=httpx.MockTransport(unavailable)) as client:
        for expected in ("pending", "pending", "failed"):
            report = deliver_due(ledger, client, now=now)
            assert report.attempted == 1
            delivery = _delivery(ledger)
            assert delivery.status == expected and delivery.last_error == "HTTP 503"
            now = delivery.next_attempt_at
        assert report.failed == 1
        assert deliver_due(ledger, client, now=now + dt.timedelta(days=1)).attempted == 0
    assert len(sent) == 3 and delivery.attempts == 3 and delivery.delivered_at is None


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (httpx.ReadTimeout("too slow"), "ReadTimeout"),
        (httpx.ConnectError("refused"), "ConnectError"),
    ],
)
def test_transport_errors_are_recorded_by_class(
    ledger: Ledger, fault: Exception, reason: str
) -> None:
    where = place(ledger)
    add_webhook(ledger, "https://staff.example.com/hook")
    record(ledger, where)

    def broken(request: httpx.Request) -> httpx.Response:
        raise fault

    with httpx.Client(transport=httpx.MockTransport(broken)) as client:
        assert deliver_due(ledger, client).retrying == 1
    delivery = _delivery(ledger)
    assert delivery.last_error == reason and delivery.attempts == 1


def test_requests_carry_signed_json_and_redirects_are_failures(ledger: Ledger) -> None:
    where = place(ledger)
    _, secret = add_webhook(ledger, "https://staff.example.com/hook")
    record(ledger, where)
    captured: list[httpx.Request] = []

    def moved(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/"})

    now = utcnow()
    with httpx.Client(transport=httpx.MockTransport(moved)) as client:
        deliver_due(ledger, client, now=now)
    request = captured[0]
    assert len(captured) == 1 and request.headers["Content-Type"] == "application/json"
    assert verify_signature(
        secret.encode(), request.headers[SIGNATURE_HEADER], request.content, now.timestamp()
    )
    assert _delivery(ledger).last_error == "HTTP 302"


def test_a_removed_webhook_gets_no_more_attempts(ledger: Ledger) -> None:
    where = place(ledger)
    hook, _ = add_webhook(ledger, "https://staff.example.com/hook")
    record(ledger, where)

    def remove_while_sending(request: httpx.Request) -> httpx.Response:
        remove_webhook(ledger, hook.id)
        return httpx.Response(500)

    with httpx.Client(transport=httpx.MockTransport(remove_while_sending)) as client:
        report = deliver_due(ledger, client)
    assert report.attempted == 1 and report.retrying == report.failed == 0


def test_retry_delay_doubles_up_to_the_cap_with_jitter() -> None:
    settings = EventSettings(webhook_backoff_s=2, webhook_backoff_max_s=60)
    rng = random.Random(1)
    for attempts, base in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (30, 60)]:
        for _ in range(20):
            seconds = retry_delay(attempts, settings, rng).total_seconds()
            assert 0.8 * base <= seconds <= 1.2 * base


def test_deliver_due_sends_nothing_when_nothing_is_due(ledger: Ledger) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        assert deliver_due(ledger, client).as_dict() == {
            "attempted": 0,
            "delivered": 0,
            "retrying": 0,
            "failed": 0,
        }
    assert calls == []
