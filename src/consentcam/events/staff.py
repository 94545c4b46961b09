"""Staff decisions on door-mode events: until a person confirms, the only allowed action on a
door recognition is a greeting (docs/architecture.md, camera modes). Confirming or dismissing is
audited with the staff member as actor and announced on the event stream."""

from __future__ import annotations

import datetime as dt
from typing import Any

from consentcam.audit import chain
from consentcam.consent.context import Ledger
from consentcam.consent.pictures import drop_snapshot
from consentcam.consent.visits import release_held_view
from consentcam.errors import InputError, NotFound
from consentcam.events.outbox import record_event
from consentcam.store.models import Event, utcnow

PENDING, CONFIRMED, DISMISSED = "pending", "confirmed", "dismissed"


def confirm_event(
    ledger: Ledger, event_id: str, *, confirm: bool = True, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Confirm (or dismiss) a pending door event; returns the updated event document."""
    now = now or utcnow()
    status = CONFIRMED if confirm else DISMISSED
    with ledger.store.transaction() as s:
        event = s.get(Event, event_id)
        if event is None or event.tenant_id != ledger.tenant_id(s):
            raise NotFound(f"no event {event_id!r}")
        if event.status != PENDING:
            state = event.status or "not a door event"
            raise InputError(f"event {event_id} needs no confirmation ({state})")
        event.status, event.confirmed_by, event.confirmed_at = status, ledger.actor, now
        # The door's view of the person: a visit template if confirmed and the member's notice
        # allows it; deleted at once otherwise (it may show someone else: invariant 8).
        learned = release_held_view(s, ledger.keys, event, confirmed=confirm, actor=ledger.actor)
        # Dismissed: the door snapshot shows someone who is not the member (a bystander).
        snapshot_deleted = 0 if confirm else drop_snapshot(s, event.id)
        notice = record_event(
            s,
            tenant_id=event.tenant_id,
            site_id=event.site_id,
            camera_id=event.camera_id,
            member_id=event.member_id,
            kind=f"{event.kind}.{status}",
            payload={"event_id": event.id, "by": ledger.actor},
            at=now,
        )
        chain.append(
            s,
            actor=ledger.actor,
            action=f"event.{status}",
            subject=event.member_id,
            details={
                "event_id": event.id,
                "notice_event_id": notice.id,
                "visit_template": learned,
                "snapshot_deleted": bool(snapshot_deleted),
            },
            tenant_id=event.tenant_id,
        )
        s.flush()
        return {
            "event_id": event.id,
            "status": status,
            "confirmed_by": ledger.actor,
            "confirmed_at": now.isoformat(),
            "visit_template": learned,
        }
