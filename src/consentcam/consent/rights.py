"""Data-subject rights: withdrawal (consents withdrawn and what rests on them deleted, with a
receipt), erasure of everything held about a member, and the export of it.

Each runs in one transaction together with its audit entry; the store's triggers back up the
rule that withdrawal deletes templates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.context import Ledger, member_by_id
from consentcam.consent.pictures import exported_pictures
from consentcam.consent.profiles import PORTRAIT, PURPOSES, RECOGNITION
from consentcam.consent.receipts import (
    ErasureDeleted,
    ErasureReceipt,
    ExportedConsent,
    ExportedMember,
    ExportedPurchase,
    ExportedTemplate,
    MemberExport,
    WithdrawalReceipt,
)
from consentcam.errors import InputError
from consentcam.store.db import deleted_rows, forget_deleted
from consentcam.store.models import (
    Claim,
    Consent,
    Delivery,
    Event,
    HeldView,
    Member,
    MemberImage,
    OutboxEntry,
    Purchase,
    Site,
    Template,
    new_id,
    utcnow,
)


def withdraw(ledger: Ledger, member_id: str, purpose: str | None = None) -> WithdrawalReceipt:
    """Withdraw the member's consents and delete what rests on them in one transaction; return
    a deletion receipt (no biometric content). Without ``purpose``, or for ``recognition``:
    every consent (pictures for staff serve recognition alone), every template and picture.
    For ``portrait``: only that consent and the member's pictures; recognition goes on."""
    if purpose is not None and purpose not in PURPOSES:
        raise InputError(f"unknown purpose {purpose!r}; supported: {', '.join(PURPOSES)}")
    purposes = (PORTRAIT,) if purpose == PORTRAIT else PURPOSES
    with ledger.store.transaction() as s:
        member = member_by_id(s, member_id, ledger.tenant_id(s))
        now = utcnow()
        consents, templates, pictures = withdrawn_consents(s, member, now, purposes)
        entry = chain.append(
            s,
            actor=ledger.actor,
            action="consent.withdraw",
            subject=member.id,
            details={
                "purposes": list(purposes),
                "consents": consents,
                "templates_deleted": templates,
                "pictures_deleted": pictures,
            },
            tenant_id=member.tenant_id,
        )
        receipt = WithdrawalReceipt(
            receipt_id=new_id(),
            member_id=member.id,
            purposes=tuple(purposes),
            withdrawn_consents=consents,
            deleted_templates=templates,
            deleted_pictures=pictures,
            deleted_at=now,
            by=ledger.actor,
            audit_entry=entry.seq,
            kept="membership profile and purchase history (not biometric; erased with "
            "everything else on request: 'consentcam erase', POST /api/v1/members/{id}/erase)",
        )
    forget_deleted(ledger.store)
    return receipt


def erase_member(ledger: Ledger, member_id: str) -> ErasureReceipt:
    """Erase everything held about a member (data-subject erasure): withdraw their consents and
    delete their templates as a withdrawal does, then delete their consents, purchases, claims,
    the events naming them (with those events' stream entries and pending webhook deliveries)
    and the member record itself, in one transaction; return the erasure receipt.

    Kept: the audit log, which is append-only evidence of what was done and when (consent given
    and withdrawn, enrolments, reads, this erasure) and names the member only by id, never by
    name, profile or face. Once the member row is gone, that id points at nobody here."""
    with ledger.store.transaction() as s:
        member = member_by_id(s, member_id, ledger.tenant_id(s))
        now = utcnow()
        withdrawn, templates, pictures = withdrawn_consents(s, member, now, PURPOSES)
        events = select(Event.id).where(Event.member_id == member.id)
        stream = select(OutboxEntry.seq).where(OutboxEntry.event_id.in_(events))
        deleted = ErasureDeleted(
            templates=templates,
            pictures=pictures,
            webhook_deliveries=deleted_rows(
                s, delete(Delivery).where(Delivery.outbox_seq.in_(stream))
            ),
            stream_entries=deleted_rows(
                s, delete(OutboxEntry).where(OutboxEntry.event_id.in_(events))
            ),
            events=deleted_rows(s, delete(Event).where(Event.member_id == member.id)),
            claims=deleted_rows(s, delete(Claim).where(Claim.member_id == member.id)),
            purchases=deleted_rows(s, delete(Purchase).where(Purchase.member_id == member.id)),
            consents=deleted_rows(s, delete(Consent).where(Consent.member_id == member.id)),
        )
        site_id, tenant_id = member.site_id, member.tenant_id
        s.delete(member)
        s.flush()
        entry = chain.append(
            s,
            actor=ledger.actor,
            action="member.erase",
            subject=member_id,
            details={"withdrawn_consents": withdrawn, "deleted": deleted.as_dict()},
            tenant_id=tenant_id,
        )
        site = s.get(Site, site_id)
        receipt = ErasureReceipt(
            receipt_id=new_id(),
            member_id=member_id,
            site=site.name if site else None,
            withdrawn_consents=withdrawn,
            deleted=deleted,
            erased_at=now,
            by=ledger.actor,
            audit_entry=entry.seq,
            kept="the audit log's entries about this member id (what was done and when; no "
            "name, profile, purchase or face data)",
        )
    forget_deleted(ledger.store)
    return receipt


def withdrawn_consents(
    s: Session, member: Member, now: dt.datetime, purposes: Sequence[str]
) -> tuple[int, int, int]:
    """Withdraw the member's active consents for ``purposes`` at ``now`` and delete their
    pictures for staff, and with ``recognition`` every template of theirs; the numbers of
    consents withdrawn, templates and pictures deleted. Workers are told through the store's
    triggers (the gallery change counters and PostgreSQL's notification)."""
    consents = (
        s.execute(
            select(Consent).where(
                Consent.member_id == member.id,
                Consent.withdrawn_at.is_(None),
                Consent.purpose.in_(purposes),
            )
        )
        .scalars()
        .all()
    )
    templates = 0
    if RECOGNITION in purposes:
        templates = s.execute(
            select(func.count()).select_from(Template).where(Template.member_id == member.id)
        ).scalar_one()
    for c in consents:
        c.withdrawn_at = now
    s.flush()
    if RECOGNITION in purposes:
        # The trigger deleted templates of each withdrawn consent; this also removes any left
        # under an already-ended consent, and any door view held for a visit template.
        s.execute(delete(Template).where(Template.member_id == member.id))
        s.execute(delete(HeldView).where(HeldView.member_id == member.id))
    # Pictures serve recognition alerts only: either withdrawal ends them (invariant 8).
    pictures = deleted_rows(s, delete(MemberImage).where(MemberImage.member_id == member.id))
    return len(consents), int(templates), pictures


def export_member(ledger: Ledger, member_id: str) -> MemberExport:
    """Everything held about a member (data-subject access): profile, consents, purchases,
    template metadata (never the templates themselves) and the pictures staff may be shown
    (their own face, so they are given back). The read is audited with its actor."""
    with ledger.store.transaction() as s:
        member = member_by_id(s, member_id, ledger.tenant_id(s))
        consents = s.execute(select(Consent).where(Consent.member_id == member.id)).scalars()
        templates = s.execute(select(Template).where(Template.member_id == member.id)).scalars()
        purchases = s.execute(select(Purchase).where(Purchase.member_id == member.id)).scalars()
        document = MemberExport(
            member=ExportedMember(
                id=member.id,
                name=member.name,
                profile=member.profile,
                created_at=member.created_at,
                last_interaction_at=member.last_interaction_at,
            ),
            consents=tuple(
                ExportedConsent(
                    id=c.id,
                    purpose=c.purpose,
                    channel=c.channel,
                    scope="chain" if c.site_id is None else "site",
                    notice_sha256=c.notice_sha256,
                    evidence_sha256=c.evidence_sha256,
                    given_at=c.given_at,
                    expires_at=c.expires_at,
                    withdrawn_at=c.withdrawn_at,
                )
                for c in consents
            ),
            templates=tuple(
                ExportedTemplate(
                    id=t.id,
                    model_id=t.model_id,
                    created_at=t.created_at,
                    quality=t.quality,
                    source_photo_sha256=t.source_sha256,
                )
                for t in templates
            ),
            purchases=tuple(
                ExportedPurchase(
                    at=p.at, items=p.items, amount_cents=p.amount_cents, currency=p.currency
                )
                for p in purchases
            ),
            pictures=exported_pictures(s, ledger.keys, member.id),
        )
        chain.append(
            s,
            actor=ledger.actor,
            action="member.export",
            subject=member.id,
            tenant_id=member.tenant_id,
        )
        return document
