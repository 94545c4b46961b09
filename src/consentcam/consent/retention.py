"""The retention job: delete what the jurisdiction profiles say may no longer be kept.

Templates go when the consent they were enrolled under has been withdrawn or has expired, or when
their member has not interacted for the site profile's ``template_inactivity_days`` (BIPA 15(a):
three years; GDPR and PIPL 19: as short as needed). Events go after ``event_retention_days``,
anonymous footfall buckets after ``footfall_retention_days`` (their whole hour past it).
Consents themselves are kept: they are the evidence of what was agreed and when.

The job is idempotent and runs in one transaction with one audit entry, so a crash leaves the
store as it was and a second run right after deletes nothing. Nothing is decrypted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Delete, delete, select, true
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.ledger import Ledger
from consentcam.consent.profiles import PROFILES
from consentcam.errors import InputError
from consentcam.store.models import (
    Camera,
    Consent,
    Event,
    FootfallBucket,
    Member,
    Site,
    Template,
    utcnow,
)

HOUR = dt.timedelta(hours=1)


def purge(ledger: Ledger, now: dt.datetime | None = None) -> dict[str, Any]:
    """Delete expired templates, events and footfall; return the counts (also the audit entry's
    details).

    Each template is counted once, under the first reason that applies: withdrawn consent,
    expired consent, inactivity. ``now`` is the clock the rules are applied at (tests pass a
    controlled one); it must be timezone-aware."""
    now = now or utcnow()
    if now.tzinfo is None:
        raise InputError("purge needs a timezone-aware time (UTC)")
    with ledger.store.transaction() as s:
        # Withdrawal normally deletes templates at once (in the store's trigger too); this
        # catches any left behind, e.g. by a restore from a backup taken in between.
        withdrawn = _deleted(
            s,
            delete(Template).where(
                Template.consent_id.in_(select(Consent.id).where(Consent.withdrawn_at.is_not(None)))
            ),
        )
        expired = _deleted(
            s,
            delete(Template).where(
                Template.consent_id.in_(select(Consent.id).where(Consent.expires_at <= now))
            ),
        )
        inactive = events = footfall = 0
        for code, rules in PROFILES.items():
            if rules.template_inactivity_days is not None:
                cutoff = now - dt.timedelta(days=rules.template_inactivity_days)
                # 0 days means templates are never kept (e.g. a site under a ban, whatever
                # was enrolled before its profile changed).
                stale: ColumnElement[bool] = (
                    true()
                    if rules.template_inactivity_days == 0
                    else Member.last_interaction_at < cutoff
                )
                members = (
                    select(Member.id)
                    .join(Site, Site.id == Member.site_id)
                    .where(Site.jurisdiction == code, stale)
                )
                inactive += _deleted(s, delete(Template).where(Template.member_id.in_(members)))
            sites = select(Site.id).where(Site.jurisdiction == code)
            events += _deleted(
                s,
                delete(Event).where(
                    Event.site_id.in_(sites),
                    Event.at < now - dt.timedelta(days=rules.event_retention_days),
                ),
            )
            footfall += _footfall_deleted(
                s, code, now - dt.timedelta(days=rules.footfall_retention_days)
            )
        report: dict[str, Any] = {
            "templates_deleted": {
                "expired_consent": expired,
                "withdrawn_consent": withdrawn,
                "inactive": inactive,
            },
            "events_deleted": events,
            "footfall_deleted": footfall,
            "at": now.astimezone(dt.UTC).isoformat(),
        }
        chain.append(s, actor=ledger.actor, action="retention.purge", details=report)
        return report


def _footfall_deleted(s: Session, jurisdiction: str, cutoff: dt.datetime) -> int:
    """Delete this jurisdiction's cameras' hourly buckets whose hour had ended by ``cutoff``."""
    cameras = (
        select(Camera.id)
        .join(Site, Site.id == Camera.site_id)
        .where(Site.jurisdiction == jurisdiction)
    )
    return _deleted(
        s,
        delete(FootfallBucket).where(
            FootfallBucket.camera_id.in_(cameras), FootfallBucket.hour <= cutoff - HOUR
        ),
    )


def _deleted(s: Session, statement: Delete) -> int:
    result = cast(
        CursorResult[Any], s.execute(statement, execution_options={"synchronize_session": False})
    )
    return int(result.rowcount)
