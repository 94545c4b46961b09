"""Issue 13, item 8: rectification reaches every place the member's name and profile are kept.
An alert carries the member card (name, profile) as staff saw it; the review found the old name
still in ``GET /api/v1/events`` after a rectification. Rectifying now rewrites the card in the
member's stored events, in the same transaction, so the event history, the live stream (which
replays stored events), webhook deliveries still due (their body is built when sent) and the
database file all show the corrected record only."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select

from consentcam.consent.context import Ledger
from consentcam.consent.members import add_member, rectify_member
from consentcam.events.outbox import event_document
from consentcam.events.webhooks import add_webhook
from consentcam.store.db import SQLITE_FILE
from consentcam.store.models import AuditEntry, Event, OutboxEntry
from tests.support.events import place, record
from tests.support.leaks import rows_mentioning

OLD_NAME, NEW_NAME = "Zelda Quintessa", "Zelda Moreau"
OLD_PROFILE = {"tier": "gold", "note": "prefers oat milk"}
NEW_PROFILE = {"tier": "silver"}


def _alert(ledger: Ledger, where: Any, name: str, profile: dict[str, Any]) -> None:
    """An alert with the member card as the camera worker builds it."""
    record(
        ledger,
        where,
        camera="door",
        site=where.site_name,
        mode="door",
        member={"id": where.member_id, "name": name, "profile": profile},
        distance=0.41,
        purchases={"count": 1},
    )


def _documents(ledger: Ledger) -> dict[str | None, dict[str, Any]]:
    with ledger.store.transaction() as s:
        rows = s.execute(
            select(OutboxEntry.seq, Event).join(Event, Event.id == OutboxEntry.event_id)
        ).all()
        return {event.member_id: event_document(seq, event) for seq, event in rows}


def test_rectification_rewrites_the_member_card_in_stored_events(ledger: Ledger) -> None:
    where = place(ledger)
    rectify_member(ledger, where.member_id, name=OLD_NAME, profile_fields=OLD_PROFILE)
    add_webhook(ledger, "https://staff.example.com/hook")  # a delivery due for each alert
    _alert(ledger, where, OLD_NAME, OLD_PROFILE)
    _alert(ledger, where, OLD_NAME, OLD_PROFILE)
    other = add_member(ledger, where.site_name, "Someone Else", {"tier": "gold"})
    _alert(ledger, replace(where, member_id=other.id), "Someone Else", {"tier": "gold"})

    rectify_member(ledger, where.member_id, name=NEW_NAME, profile_fields=NEW_PROFILE)

    with ledger.store.transaction() as s:
        events = s.execute(select(Event).where(Event.member_id == where.member_id)).scalars()
        cards = [e.payload["member"] for e in events]
        untouched = s.execute(select(Event).where(Event.member_id == other.id)).scalar_one()
        rectified = s.execute(
            select(AuditEntry).where(AuditEntry.action == "member.rectify")
        ).scalars()
        last_details = list(rectified)[-1].details
    assert cards == [{"id": where.member_id, "name": NEW_NAME, "profile": NEW_PROFILE}] * 2
    assert untouched.payload["member"]["name"] == "Someone Else"
    assert _documents(ledger)[where.member_id]["payload"]["member"]["name"] == NEW_NAME
    # The audit entry says how many events were corrected, never the values.
    assert last_details == {"fields": ["name", "profile"], "events": 2}
    assert rows_mentioning(ledger, OLD_NAME, "oat milk") == []


def test_the_old_name_leaves_the_sqlite_files(ledger: Ledger) -> None:
    if ledger.settings.database_url:
        return  # PostgreSQL keeps old row versions until vacuum (threat model, risk 13)
    where = place(ledger)
    rectify_member(ledger, where.member_id, name=OLD_NAME, profile_fields=OLD_PROFILE)
    _alert(ledger, where, OLD_NAME, OLD_PROFILE)
    rectify_member(ledger, where.member_id, name="Ada Lovelace", profile_fields=NEW_PROFILE)
    database = ledger.settings.data_dir / SQLITE_FILE
    files = [database, database.with_name(database.name + "-wal")]
    written = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"Ada Lovelace" in written
    assert OLD_NAME.encode() not in written and b"oat milk" not in written
