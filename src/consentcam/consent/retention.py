"""The retention job: delete what the jurisdiction profiles say may no longer be kept.

Templates go when the consent they were enrolled under has been withdrawn or has expired, or when
their member has not interacted for the site profile's ``template_inactivity_days`` (BIPA 15(a):
three years; GDPR and PIPL 19: as short as needed). Events go after ``event_retention_days``,
anonymous footfall buckets after ``footfall_retention_days`` (their whole hour past it).
Consents themselves are kept: they are the evidence of what was agreed and when.

The job is idempotent and runs in one transaction with one audit entry for each tenant purged, so
a crash leaves the store as it was and a second run right after deletes nothing. Nothing is
decrypted. A tenant's purge touches only its own rows: the API runs it for the caller's tenant,
the operator's scheduled job for every tenant.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, select, true
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.context import Ledger
from consentcam.consent.pictures import expire_snapshots
from consentcam.consent.profiles import PROFILES
from consentcam.consent.visits import expire_held_views
from consentcam.errors import InputError
from consentcam.store.db import deleted_rows
from consentcam.store.models import (
    Camera,
    Consent,
    Event,
    FootfallBucket,
    Member,
    MemberImage,
    Site,
    Template,
    Tenant,
    utcnow,
)

HOUR = dt.timedelta(hours=1)


def purge(
    ledger: Ledger, now: dt.datetime | None = None, *, every_tenant: bool = False
) -> dict[str, Any]:
    """Delete expired templates, events and footfall of the ledger's tenant; return the counts
    (also the audit entry's details).

    ``every_tenant`` is the operator's scheduled job (the CLI): every tenant of the store is
    purged, each under an audit entry of its own with its own counts, and the totals returned.
    Each template is counted once, under the first reason that applies: withdrawn consent,
    expired consent, inactivity. ``now`` is the clock the rules are applied at (tests pass a
    controlled one); it must be timezone-aware."""
    now = now or utcnow()
    if now.tzinfo is None:
        raise InputError("purge needs a timezone-aware time (UTC)")
    with ledger.store.transaction() as s:
        tenant_ids = {ledger.tenant_id(s)}
        if every_tenant:
            tenant_ids |= set(s.execute(select(Tenant.id)).scalars())
        totals: Counter[str] = Counter()
        for tenant_id in sorted(tenant_ids):
            counts = _purged(s, tenant_id, now)
            chain.append(
                s,
                actor=ledger.actor,
                action="retention.purge",
                details=_report(counts, now),
                tenant_id=tenant_id,
            )
            totals.update(counts)
        return _report(totals, now)


def _purged(s: Session, tenant_id: str, now: dt.datetime) -> Counter[str]:
    """Delete what one tenant may no longer keep; the counts by kind."""

    counts: Counter[str] = Counter()
    counts["held_views"] = expire_held_views(s, now, tenant_id)
    counts["snapshots"] = expire_snapshots(s, now, tenant_id)
    templates = delete(Template).where(Template.tenant_id == tenant_id)
    # Withdrawal normally deletes templates at once (in the store's trigger too); this catches
    # any left behind, e.g. by a restore from a backup taken in between.
    counts["withdrawn_consent"] = deleted_rows(
        s,
        templates.where(
            Template.consent_id.in_(select(Consent.id).where(Consent.withdrawn_at.is_not(None)))
        ),
    )
    counts["expired_consent"] = deleted_rows(
        s,
        templates.where(
            Template.consent_id.in_(select(Consent.id).where(Consent.expires_at <= now))
        ),
    )
    for code, rules in PROFILES.items():
        sites = select(Site.id).where(Site.tenant_id == tenant_id, Site.jurisdiction == code)
        if rules.template_inactivity_days is not None:
            cutoff = now - dt.timedelta(days=rules.template_inactivity_days)
            # 0 days means templates are never kept (e.g. a site under a ban, whatever was
            # enrolled before its profile changed).
            stale: ColumnElement[bool] = (
                true()
                if rules.template_inactivity_days == 0
                else Member.last_interaction_at < cutoff
            )
            members = select(Member.id).where(Member.site_id.in_(sites), stale)
            counts["inactive"] += deleted_rows(s, templates.where(Template.member_id.in_(members)))
        counts["events"] += deleted_rows(
            s,
            delete(Event).where(
                Event.site_id.in_(sites),
                Event.at < now - dt.timedelta(days=rules.event_retention_days),
            ),
        )
        counts["footfall"] += _footfall_deleted(
            s, sites, now - dt.timedelta(days=rules.footfall_retention_days)
        )
    counts["pictures"] = _pictures_deleted(s, tenant_id, now)
    return counts


def _pictures_deleted(s: Session, tenant_id: str, now: dt.datetime) -> int:
    """Delete pictures for staff whose consent ended (withdrawn or expired) or whose member has
    no template left (nobody to recognise, so nothing to check: invariant 8)."""
    ended = select(Consent.id).where(
        (Consent.withdrawn_at.is_not(None)) | (Consent.expires_at <= now)
    )
    enrolled = select(Template.member_id).where(Template.tenant_id == tenant_id)
    return deleted_rows(
        s,
        delete(MemberImage).where(
            MemberImage.tenant_id == tenant_id,
            MemberImage.consent_id.in_(ended) | MemberImage.member_id.not_in(enrolled),
        ),
    )


def _report(counts: Counter[str], now: dt.datetime) -> dict[str, Any]:
    return {
        "templates_deleted": {
            "expired_consent": counts["expired_consent"],
            "withdrawn_consent": counts["withdrawn_consent"],
            "inactive": counts["inactive"],
        },
        "events_deleted": counts["events"],
        "footfall_deleted": counts["footfall"],
        "held_views_deleted": counts["held_views"],
        "snapshots_deleted": counts["snapshots"],
        "pictures_deleted": counts["pictures"],
        "at": now.astimezone(dt.UTC).isoformat(),
    }


def _footfall_deleted(s: Session, sites: Select[Any], cutoff: dt.datetime) -> int:
    """Delete the hourly buckets of these sites' cameras whose hour had ended by ``cutoff``."""
    cameras = select(Camera.id).where(Camera.site_id.in_(sites))
    return deleted_rows(
        s,
        delete(FootfallBucket).where(
            FootfallBucket.camera_id.in_(cameras), FootfallBucket.hour <= cutoff - HOUR
        ),
    )
