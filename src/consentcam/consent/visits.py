"""Templates from confirmed visits: the door camera's view of a member, added to their gallery
only where the member's notice says so and only once the visit is confirmed.

Kiosk photos and the door camera differ (light, angle, distance, compression); a view from the
door itself closes that gap. The rules (issue 11, docs/privacy-invariants.md, invariant 8):

- only under a consent whose notice version says confirmed visits refine the template
  (``profiles.VISIT_NOTICE_VERSIONS``);
- door mode: the recognised track's fused view is held, sealed like a template, until staff
  answer the alert; confirmed, it becomes a ``visit`` template; dismissed or left unanswered for
  ``HOLD_S``, it is deleted at once (it may show someone who is not the member);
- verify mode: a claim the camera confirmed 1:1 adds the view at once (the member asked to be
  checked and the camera agreed);
- at most ``VISIT_TEMPLATES_MAX`` visit templates per member, the oldest replaced; each addition
  is audited with its event; withdrawal and erasure delete them with every other template.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.consents import active_consent
from consentcam.consent.enrolment import EnrolmentView, add_template
from consentcam.consent.profiles import HOLD_S, VISIT_NOTICE_VERSIONS, VISIT_TEMPLATES_MAX
from consentcam.errors import InputError
from consentcam.store import crypto
from consentcam.store.db import deleted_rows
from consentcam.store.models import Consent, Event, HeldView, Member, Notice, Template, utcnow

log = logging.getLogger(__name__)

VISIT = "visit"


def visit_consent(s: Session, member: Member) -> Consent | None:
    """The member's active recognition consent if its notice allows visit templates."""
    consent = active_consent(s, member)
    if consent is None:
        return None
    notice = s.get(Notice, consent.notice_id)
    return consent if notice is not None and notice.version in VISIT_NOTICE_VERSIONS else None


def hold_view(
    s: Session,
    keys: crypto.TemplateKeys,
    event: Event,
    vector: np.ndarray,
    quality: dict[str, float],
) -> bool:
    """Hold a door event's fused view (raw, as the worker computed it) until staff answer, if
    the member's notice allows visit templates; True if held."""
    assert event.member_id is not None
    member = s.get(Member, event.member_id)
    if member is None or visit_consent(s, member) is None:
        return False
    transform = crypto.tenant_transform(keys.key, member.tenant_id)
    protected = crypto.protect(transform, vector[None, :])[0]
    s.add(
        HeldView(
            event_id=event.id,
            tenant_id=member.tenant_id,
            member_id=member.id,
            sealed=crypto.seal(keys, protected, held_aad(member.tenant_id, event.id, member.id)),
            quality=quality,
        )
    )
    protected.fill(0)
    return True


def add_visit_template(
    s: Session,
    keys: crypto.TemplateKeys,
    member: Member,
    vector: np.ndarray,
    *,
    event_id: str,
    actor: str,
    quality: dict[str, float] | None = None,
) -> Template | None:
    """Add a visit template from ``vector`` (raw) if the member's notice allows it, replacing
    the oldest beyond VISIT_TEMPLATES_MAX; audited with the event. None if not allowed."""
    consent = visit_consent(s, member)
    if consent is None:
        return None
    view = EnrolmentView(vector, {"origin_event": event_id, **(quality or {})}, "")
    template = add_template(s, keys, member, consent, view, origin=VISIT)
    s.flush()
    visits = s.execute(
        select(Template.id)
        .where(Template.member_id == member.id, Template.origin == VISIT)
        .order_by(Template.created_at.desc(), Template.id)
    ).scalars()
    aged = list(visits)[VISIT_TEMPLATES_MAX:]
    if aged:
        s.execute(delete(Template).where(Template.id.in_(aged)))
    chain.append(
        s,
        actor=actor,
        action="template.visit",
        subject=member.id,
        details={"event_id": event_id, "consent": consent.id, "aged_out": len(aged)},
        tenant_id=member.tenant_id,
    )
    return template


def release_held_view(
    s: Session, keys: crypto.TemplateKeys, event: Event, *, confirmed: bool, actor: str
) -> bool:
    """Staff answered a door event: its held view becomes a visit template if confirmed (and
    still allowed), and is deleted either way. True if a template was added."""
    held = s.get(HeldView, event.id)
    if held is None:
        return False
    added = False
    member = s.get(Member, held.member_id)
    if confirmed and member is not None:
        try:
            vector = crypto.open_sealed(
                keys, held.sealed, held_aad(held.tenant_id, event.id, held.member_id)
            )
        except InputError as exc:  # sealed under a key rotated away since: nothing to add
            log.warning("held view of event %s not used: %s", event.id, exc)
        else:
            transform = crypto.tenant_transform(keys.key, held.tenant_id)
            raw = crypto.unprotect(transform, vector[None, :])[0]
            added = (
                add_visit_template(
                    s, keys, member, raw, event_id=event.id, actor=actor, quality=held.quality
                )
                is not None
            )
            raw.fill(0)
            vector.fill(0)
    s.delete(held)
    return added


def expire_held_views(
    s: Session, now: dt.datetime | None = None, tenant_id: str | None = None
) -> int:
    """Delete the views held for alerts nobody answered within HOLD_S; how many."""
    cutoff = (now or utcnow()) - dt.timedelta(seconds=HOLD_S)
    query = delete(HeldView).where(HeldView.created_at < cutoff)
    if tenant_id is not None:
        query = query.where(HeldView.tenant_id == tenant_id)
    return deleted_rows(s, query)


def held_aad(tenant_id: str, event_id: str, member_id: str) -> bytes:
    """Binds a held view to its event and member (a blob moved elsewhere will not open)."""
    return f"{tenant_id}/held/{event_id}/{member_id}".encode()
