"""Pictures of members that staff check an alert with (issue 12; privacy invariant 8 in
docs/privacy-invariants.md).

Staff are asked to confirm an identity before they act on a door alert; they should see a face to
compare, not only a name. Two pictures, both only for a member who gave the separate consent for
purpose ``portrait`` (``profiles.PORTRAIT``; its own box at the kiosk, off unless asked):

- the **reference portrait**: one small aligned face picture from enrolment, at most one per
  member (a new one replaces the old);
- the **door snapshot**: the recognised track's best face picture, kept with its alert. If staff
  dismiss the alert the person at the door was not the member: the snapshot is a bystander's face
  and is deleted at once, as is the snapshot of an alert nobody answers within ``HOLD_S``. A
  confirmed visit's snapshot goes with its event (the profile's retention) and after
  ``SNAPSHOT_RETENTION_DAYS`` at most.

Both are JPEG bytes sealed like templates (AES-GCM bound to tenant, picture, member, kind and
event), never in clear on disk; every view is audited with its actor; withdrawal of either consent
and erasure delete them all. No picture is ever taken of a track not decided as a member: the
worker only calls ``keep_snapshot`` for a member's alert.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any, cast

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.consents import active_consent
from consentcam.consent.context import Ledger, member_by_id
from consentcam.consent.profiles import HOLD_S, PORTRAIT, SNAPSHOT_RETENTION_DAYS
from consentcam.consent.receipts import ExportedPicture, PictureKind
from consentcam.errors import ConsentError, NotFound
from consentcam.store import crypto
from consentcam.store.db import deleted_rows
from consentcam.store.models import Consent, Event, Member, MemberImage, new_id, utcnow

PORTRAIT_KIND = "portrait"
SNAPSHOT_KIND = "snapshot"


def portrait_consent(s: Session, member: Member) -> Consent | None:
    """The member's active consent to be shown to staff in pictures, if any."""
    return active_consent(s, member, purpose=PORTRAIT)


def seal_picture(
    s: Session,
    keys: crypto.TemplateKeys,
    member: Member,
    consent: Consent,
    kind: str,
    jpeg: bytes,
    event_id: str | None = None,
) -> MemberImage:
    """One sealed picture row (the caller audits it with the rest of its transaction)."""
    picture_id = new_id()
    aad = crypto.picture_aad(member.tenant_id, picture_id, member.id, kind, event_id or "")
    row = MemberImage(
        id=picture_id,
        tenant_id=member.tenant_id,
        member_id=member.id,
        consent_id=consent.id,
        kind=kind,
        event_id=event_id,
        sealed=crypto.seal_bytes(keys, jpeg, aad),
        key_id=keys.key_id,
    )
    s.add(row)
    return row


def opened_picture(keys: crypto.TemplateKeys, row: MemberImage) -> bytes:
    """The JPEG bytes of a sealed picture row."""
    return crypto.open_bytes(keys, row.sealed, crypto.stored_picture_aad(row), f"picture {row.id}")


def store_portrait(s: Session, ledger: Ledger, member: Member, jpeg: bytes) -> MemberImage:
    """Store ``jpeg`` (an enrolment view's picture) as the member's reference portrait in the
    caller's transaction, replacing any earlier one; ConsentError without the member's consent
    for purpose ``portrait``. Audited."""
    consent = portrait_consent(s, member)
    if consent is None or not jpeg:
        raise ConsentError(
            f"member {member.id} has not consented to a portrait shown to staff: record a "
            f"consent for purpose '{PORTRAIT}' first (notice v3)"
        )
    replaced = deleted_rows(
        s,
        delete(MemberImage).where(
            MemberImage.member_id == member.id, MemberImage.kind == PORTRAIT_KIND
        ),
    )
    row = seal_picture(s, ledger.keys, member, consent, PORTRAIT_KIND, jpeg)
    chain.append(
        s,
        actor=ledger.actor,
        action="portrait.add",
        subject=member.id,
        details={"consent": consent.id, "replaced": replaced},
        tenant_id=member.tenant_id,
    )
    return row


def keep_snapshot(
    s: Session, keys: crypto.TemplateKeys, member: Member, event_id: str, jpeg: bytes
) -> bool:
    """Keep a member alert's door snapshot if the member consented to pictures; True if kept.
    Written in the alert's own transaction, after its event row."""
    consent = portrait_consent(s, member)
    if consent is None:
        return False
    seal_picture(s, keys, member, consent, SNAPSHOT_KIND, jpeg, event_id)
    return True


def member_portrait(ledger: Ledger, member_id: str) -> bytes:
    """The member's reference portrait (JPEG) for a staff member: NotFound if there is none;
    every view is audited with its actor (like a member card read)."""
    with ledger.store.transaction() as s:
        member = member_by_id(s, member_id, ledger.tenant_id(s))
        row = s.execute(
            select(MemberImage).where(
                MemberImage.member_id == member.id, MemberImage.kind == PORTRAIT_KIND
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"member {member.id} has no portrait")
        return _viewed(s, ledger, row, "portrait.view", {})


def event_snapshot(ledger: Ledger, event_id: str) -> bytes:
    """The door snapshot of an alert (JPEG): NotFound if the event has none (never taken, or
    deleted when the alert was dismissed or left unanswered). Every view is audited."""
    with ledger.store.transaction() as s:
        # Also here, not only in the workers and the purge: no worker may be running.
        expire_snapshots(s, tenant_id=ledger.tenant_id(s))
        row = s.execute(
            select(MemberImage).where(
                MemberImage.event_id == event_id,
                MemberImage.kind == SNAPSHOT_KIND,
                MemberImage.tenant_id == ledger.tenant_id(s),
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"event {event_id} has no snapshot")
        return _viewed(s, ledger, row, "snapshot.view", {"event_id": event_id})


def _viewed(
    s: Session, ledger: Ledger, row: MemberImage, action: str, details: dict[str, Any]
) -> bytes:
    jpeg = opened_picture(ledger.keys, row)
    chain.append(
        s,
        actor=ledger.actor,
        action=action,
        subject=row.member_id,
        details=details,
        tenant_id=row.tenant_id,
    )
    return jpeg


def has_portrait(s: Session, member_id: str) -> bool:
    return (
        s.execute(
            select(MemberImage.id).where(
                MemberImage.member_id == member_id, MemberImage.kind == PORTRAIT_KIND
            )
        ).first()
        is not None
    )


def picture_links(
    member_id: str, event_id: str | None, *, portrait: bool, snapshot: bool
) -> dict[str, str | None]:
    """API links to a member's portrait and an event's snapshot (None where there is none):
    what alerts, streams and webhooks carry instead of images (the links need credentials)."""
    return {
        "portrait": f"/api/v1/members/{member_id}/portrait" if portrait else None,
        "snapshot": f"/api/v1/events/{event_id}/snapshot" if snapshot and event_id else None,
    }


def drop_snapshot(s: Session, event_id: str) -> int:
    """Delete an alert's door snapshot (dismissed: it shows someone who is not the member)."""
    return deleted_rows(
        s,
        delete(MemberImage).where(
            MemberImage.event_id == event_id, MemberImage.kind == SNAPSHOT_KIND
        ),
    )


def expire_snapshots(
    s: Session, now: dt.datetime | None = None, tenant_id: str | None = None
) -> int:
    """Delete the snapshots of alerts nobody answered within HOLD_S, and confirmed ones older
    than SNAPSHOT_RETENTION_DAYS; how many."""
    now = now or utcnow()
    unanswered = select(Event.id).where(
        Event.status == "pending", Event.at < now - dt.timedelta(seconds=HOLD_S)
    )
    query = delete(MemberImage).where(
        MemberImage.kind == SNAPSHOT_KIND,
        MemberImage.event_id.in_(unanswered)
        | (MemberImage.created_at < now - dt.timedelta(days=SNAPSHOT_RETENTION_DAYS)),
    )
    if tenant_id is not None:
        query = query.where(MemberImage.tenant_id == tenant_id)
    return deleted_rows(s, query)


def delete_pictures(s: Session, member_id: str) -> int:
    """Delete every picture of a member (withdrawal of either consent, erasure); how many."""
    return deleted_rows(s, delete(MemberImage).where(MemberImage.member_id == member_id))


def picture_counts(s: Session, member_id: str) -> dict[str, int]:
    """How many pictures of each kind the member has (for the member card)."""
    rows = s.execute(
        select(MemberImage.kind, func.count())
        .where(MemberImage.member_id == member_id)
        .group_by(MemberImage.kind)
    ).all()
    counts = {PORTRAIT_KIND: 0, SNAPSHOT_KIND: 0}
    counts.update({kind: int(n) for kind, n in rows})
    return counts


def exported_pictures(
    s: Session, keys: crypto.TemplateKeys, member_id: str
) -> tuple[ExportedPicture, ...]:
    """The member's pictures for their data export: kind, event, date and the JPEG (base64)."""
    rows = s.execute(
        select(MemberImage)
        .where(MemberImage.member_id == member_id)
        .order_by(MemberImage.created_at)
    ).scalars()
    return tuple(
        ExportedPicture(
            kind=cast(PictureKind, row.kind),  # the store holds only these kinds
            event_id=row.event_id,
            created_at=row.created_at,
            jpeg_base64=base64.b64encode(opened_picture(keys, row)).decode(),
        )
        for row in rows
    )
