from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, update

from consentcam.consent.context import Ledger
from consentcam.errors import InputError, PolicyError
from consentcam.events.outbox import (
    check_payload,
    event_document,
    events_after,
    latest_seq,
    record_event,
)
from consentcam.events.webhooks import add_webhook
from consentcam.store.models import Delivery, Event, OutboxEntry, Webhook, utcnow
from tests.support.events import place, record


def _deliveries(ledger: Ledger, seq: int) -> set[str]:
    with ledger.store.transaction() as s:
        rows = s.execute(select(Delivery).where(Delivery.outbox_seq == seq)).scalars().all()
        assert all(d.status == "pending" and d.attempts == 0 for d in rows)
        return {d.webhook_id for d in rows}


def _count(ledger: Ledger, model: type) -> int:
    with ledger.store.transaction() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_record_event_fans_out_to_matching_active_webhooks_only(ledger: Ledger) -> None:
    a, b = place(ledger, "alpha"), place(ledger, "beta")
    everywhere, _ = add_webhook(ledger, "https://crm.example.com/events")
    at_a, _ = add_webhook(ledger, "https://a.example.com/hook", "alpha")
    at_b, _ = add_webhook(ledger, "https://b.example.com/hook", "beta")
    inactive, _ = add_webhook(ledger, "https://old.example.com/hook", "alpha")
    with ledger.store.transaction() as s:
        s.execute(update(Webhook).where(Webhook.id == inactive.id).values(active=False))

    seq_a, event_a = record(ledger, a)
    seq_b, _ = record(ledger, b)

    assert _deliveries(ledger, seq_a) == {everywhere.id, at_a.id}
    assert _deliveries(ledger, seq_b) == {everywhere.id, at_b.id}
    with ledger.store.transaction() as s:
        entry = s.get(OutboxEntry, seq_a)
        assert entry is not None and entry.event_id == event_a.id and entry.site_id == a.site_id
    assert seq_b > seq_a


def test_an_event_without_webhooks_still_reaches_the_outbox(ledger: Ledger) -> None:
    seq, _ = record(ledger, place(ledger))
    assert _count(ledger, OutboxEntry) == 1 and _deliveries(ledger, seq) == set()


EMBEDDING = [0.01 * i for i in range(128)]


SUSPECT_PAYLOADS: list[dict[str, Any]] = [
    {"embedding": EMBEDDING},
    {"member": {"face": {"vector": tuple(EMBEDDING)}}},
    {"track": [{"x": 1}, EMBEDDING[:17]]},
    {"vector": np.zeros(128, dtype=np.float32)},
    {"score": np.float32(0.4)},
    {"crop": b"\xff\xd8\xff\xe0"},
    {"crop": bytearray(b"pixels")},
    {"when": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
]


@pytest.mark.parametrize("payload", SUSPECT_PAYLOADS)
def test_check_payload_refuses_what_could_be_biometric_data(payload: dict[str, Any]) -> None:
    with pytest.raises(PolicyError, match="biometric"):
        check_payload(payload)


def test_record_event_refuses_an_embedding_and_writes_nothing(ledger: Ledger) -> None:
    where = place(ledger)
    add_webhook(ledger, "https://crm.example.com/events")
    for payload in SUSPECT_PAYLOADS[:4]:
        with pytest.raises(PolicyError, match="biometric"):
            record(ledger, where, **payload)
    assert _count(ledger, Event) == _count(ledger, OutboxEntry) == _count(ledger, Delivery) == 0


def test_plain_payloads_pass_the_check() -> None:
    check_payload(
        {
            "box": [0.1, 0.2, 0.3, 0.4],
            "scores": [0.5] * 16,
            "items": list(range(100)),
            "member": {"name": "Ada", "profile": {"tier": "gold"}},
            "distance": 0.41,
            "ok": True,
            "none": None,
        }
    )
    with pytest.raises(InputError, match="non-string key"):
        check_payload({"a": {1: "x"}})


def test_record_event_checks_kind_and_time(ledger: Ledger) -> None:
    where = place(ledger)
    for kind in ["", "Recognition", "a\nb", "x" * 41]:
        with pytest.raises(InputError, match="event kind"):
            record(ledger, where, kind=kind)
    with ledger.store.transaction() as s, pytest.raises(InputError, match="timezone"):
        record_event(
            s,
            tenant_id=where.tenant_id,
            site_id=where.site_id,
            camera_id=None,
            member_id=None,
            kind="recognition",
            payload={},
            at=dt.datetime(2026, 1, 1),
        )


def test_events_after_reads_in_seq_order_by_site_with_a_limit(ledger: Ledger) -> None:
    a, b = place(ledger, "alpha"), place(ledger, "beta")
    seqs = [record(ledger, w, n=i)[0] for i, w in enumerate([a, b, a, a, b])]
    with ledger.store.transaction() as s:
        assert [seq for seq, _ in events_after(s, None, 0, 100)] == seqs
        assert [seq for seq, _ in events_after(s, [a.site_id], 0, 100)] == [
            seqs[0],
            seqs[2],
            seqs[3],
        ]
        assert [seq for seq, _ in events_after(s, [a.site_id], seqs[2], 100)] == [seqs[3]]
        assert [seq for seq, _ in events_after(s, None, seqs[0], 2)] == seqs[1:3]
        assert events_after(s, [b.site_id], seqs[-1], 100) == []
        assert events_after(s, [], 0, 100) == []
        assert latest_seq(s) == seqs[-1]


def test_latest_seq_of_an_empty_outbox_is_zero(ledger: Ledger) -> None:
    with ledger.store.transaction() as s:
        assert latest_seq(s) == 0


def test_event_document_shape(ledger: Ledger) -> None:
    where = place(ledger)
    with ledger.store.transaction() as s:
        at = dt.datetime(2026, 11, 30, 11, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        event = record_event(
            s,
            tenant_id=where.tenant_id,
            site_id=where.site_id,
            camera_id=None,
            member_id=where.member_id,
            kind="recognition",
            payload={"camera": "door"},
            at=at,
            status="pending",
        )
        fresh = event_document(7, event)
    with ledger.store.transaction() as s:
        stored = s.get(Event, event.id)
        assert stored is not None
        reread = event_document(7, stored)
    expected = {
        "seq": 7,
        "id": event.id,
        "kind": "recognition",
        "at": "2026-11-30T10:15:00+00:00",
        "site_id": where.site_id,
        "camera_id": None,
        "member_id": where.member_id,
        "status": "pending",
        "payload": {"camera": "door"},
    }
    assert fresh == reread == expected


def test_new_deliveries_are_due_at_once(ledger: Ledger) -> None:
    add_webhook(ledger, "https://crm.example.com/events")
    before = utcnow()
    seq, _ = record(ledger, place(ledger))
    with ledger.store.transaction() as s:
        delivery = s.execute(select(Delivery).where(Delivery.outbox_seq == seq)).scalar_one()
        assert before - dt.timedelta(seconds=1) <= delivery.next_attempt_at <= utcnow()
