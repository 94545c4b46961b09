from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from consentcam.audit.chain import verify
from consentcam.consent.consents import record_consent
from consentcam.consent.context import DEFAULT_TENANT, Ledger, site_by_name
from consentcam.consent.retention import purge
from consentcam.consent.sites import add_camera, add_site
from consentcam.errors import InputError
from consentcam.pipeline.footfall import add_footfall
from consentcam.store.models import (
    AuditEntry,
    Consent,
    Event,
    FootfallBucket,
    Member,
    Template,
    Tenant,
    utcnow,
)
from consentcam.track.footfall import FootfallCounts, hour_start
from tests.support.seed import enrolled_member

DAY = dt.timedelta(days=1)
NOTHING = {"expired_consent": 0, "withdrawn_consent": 0, "inactive": 0}


def _count(ledger: Ledger, model: type, *where: Any) -> int:
    with ledger.store.transaction() as s:
        return int(s.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def _enrolled(
    ledger: Ledger, photos: Path, evidence: Path, site: str, expires: dt.datetime | None = None
) -> str:
    # A signed release satisfies every profile, BIPA's included.
    return enrolled_member(
        ledger,
        site,
        f"Member of {site}",
        photos / "obama.jpg",
        evidence,
        expires=expires,
        channel="written",
    )


def _purges(ledger: Ledger) -> list[AuditEntry]:
    with ledger.store.transaction() as s:
        return list(
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action == "retention.purge")
                .order_by(AuditEntry.seq)
            ).scalars()
        )


def test_expired_consent_takes_its_templates_and_the_consent_stays(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    t0 = utcnow()
    add_site(ledger, "flagship", "eu")
    member_id = _enrolled(ledger, photos, evidence, "flagship", expires=t0 + 30 * DAY)

    assert purge(ledger, now=t0)["templates_deleted"] == NOTHING
    assert _count(ledger, Template) == 1

    later = t0 + 31 * DAY
    report = purge(ledger, now=later)
    assert report == {
        "templates_deleted": {"expired_consent": 1, "withdrawn_consent": 0, "inactive": 0},
        "events_deleted": 0,
        "footfall_deleted": 0,
        "held_views_deleted": 0,
        "snapshots_deleted": 0,
        "pictures_deleted": 0,
        "at": later.isoformat(),
    }
    assert _count(ledger, Template) == 0
    assert _count(ledger, Consent, Consent.member_id == member_id) == 1  # evidence is kept

    again = purge(ledger, now=later)  # idempotent: nothing left to do
    assert again["templates_deleted"] == NOTHING and again["events_deleted"] == 0

    entries = _purges(ledger)
    assert len(entries) == 3  # every run is audited once, even when it deletes nothing
    assert entries[1].details == report and entries[1].actor == "test:staff"
    assert "sealed" not in str(entries[1].details)
    with ledger.store.transaction() as s:
        assert verify(s).ok


def test_templates_left_under_a_withdrawn_consent_are_deleted(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    """Withdrawal deletes templates at once; a template still pointing at a withdrawn consent
    (say, from a restored backup) is caught by the purge."""
    add_site(ledger, "flagship", "eu")
    member_id = _enrolled(ledger, photos, evidence, "flagship")
    old = record_consent(ledger, member_id, purpose="recognition", evidence=evidence)
    with ledger.store.transaction() as s:
        s.get(Consent, old.id).withdrawn_at = utcnow()  # type: ignore[union-attr]
    with ledger.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE templates SET consent_id = :c"), {"c": old.id})

    report = purge(ledger)
    assert report["templates_deleted"] == {**NOTHING, "withdrawn_consent": 1}
    assert _count(ledger, Template) == 0
    assert purge(ledger)["templates_deleted"] == NOTHING


def test_inactivity_limit_follows_the_site_profile(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    """EU: one year after the last interaction; Illinois (BIPA 15(a)): three years."""
    t0 = utcnow()
    add_site(ledger, "berlin", "eu")
    add_site(ledger, "chicago", "us-il")
    eu_member = _enrolled(ledger, photos, evidence, "berlin")
    il_member = _enrolled(ledger, photos, evidence, "chicago")

    assert purge(ledger, now=t0 + 364 * DAY)["templates_deleted"] == NOTHING
    report = purge(ledger, now=t0 + 366 * DAY)
    assert report["templates_deleted"] == {**NOTHING, "inactive": 1}
    assert _count(ledger, Template, Template.member_id == eu_member) == 0
    assert _count(ledger, Template, Template.member_id == il_member) == 1

    visit = t0 + 400 * DAY  # a recognition at the kiosk restarts the member's timer
    with ledger.store.transaction() as s:
        s.get(Member, il_member).last_interaction_at = visit  # type: ignore[union-attr]
    assert purge(ledger, now=t0 + 3 * 365 * DAY + DAY)["templates_deleted"] == NOTHING
    report = purge(ledger, now=visit + 3 * 365 * DAY + DAY)
    assert report["templates_deleted"] == {**NOTHING, "inactive": 1}
    assert _count(ledger, Template) == 0


def test_a_profile_that_keeps_no_templates_purges_them_at_once(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    """us-portland keeps templates for 0 days: a site moved under it loses them on the next run,
    however recent the member's last visit."""
    add_site(ledger, "downtown", "eu")
    _enrolled(ledger, photos, evidence, "downtown")
    with ledger.store.transaction() as s:
        site_by_name(s, "downtown").jurisdiction = "us-portland"
    assert purge(ledger)["templates_deleted"] == {**NOTHING, "inactive": 1}
    assert _count(ledger, Template) == 0


def test_events_expire_on_their_profile_schedule(ledger: Ledger) -> None:
    """EU events are kept 90 days, Illinois events 365."""
    t0 = utcnow()
    eu = add_site(ledger, "berlin", "eu")
    il = add_site(ledger, "chicago", "us-il")
    with ledger.store.transaction() as s:
        for site in (eu, il):
            for age in (100, 10):
                s.add(
                    Event(
                        tenant_id=site.tenant_id,
                        site_id=site.id,
                        kind="system",
                        at=t0 - age * DAY,
                        payload={"age_days": age},
                    )
                )
    report = purge(ledger, now=t0)
    assert report["events_deleted"] == 1 and report["templates_deleted"] == NOTHING
    assert _count(ledger, Event, Event.site_id == eu.id) == 1
    assert purge(ledger, now=t0)["events_deleted"] == 0

    report = purge(ledger, now=t0 + 300 * DAY)  # eu's 10-day event and il's 100-day event
    assert report["events_deleted"] == 2
    with ledger.store.transaction() as s:
        left = s.execute(select(Event.site_id, Event.payload)).all()
    assert left == [(il.id, {"age_days": 10})]
    with ledger.store.transaction() as s:
        assert verify(s).ok


def test_footfall_buckets_expire_after_two_years_in_every_profile(ledger: Ledger) -> None:
    """Anonymous hourly counts outlive events (730 days everywhere, us-portland included); a
    bucket goes once its whole hour is past the limit."""
    now = hour_start(utcnow()) + 30 * dt.timedelta(minutes=1)
    limit = 730 * DAY
    cameras = []
    for name, jurisdiction in (("berlin", "eu"), ("portland", "us-portland")):
        add_site(ledger, name, jurisdiction)
        cameras.append(add_camera(ledger, name, "door", f"rtsp://{name}", "count", False).id)
    hours = {
        "gone": hour_start(now - limit) - dt.timedelta(hours=1),  # ended 30 min past the limit
        "straddling": hour_start(now - limit),  # ends 30 min after the limit: kept for now
        "recent": now - 10 * DAY,
    }
    with ledger.store.transaction() as s:
        for camera in cameras:
            add_footfall(s, camera, {at: FootfallCounts(entries=1) for at in hours.values()})

    report = purge(ledger, now=now)
    assert report["footfall_deleted"] == 2 and report["events_deleted"] == 0
    with ledger.store.transaction() as s:
        left = set(s.execute(select(FootfallBucket.camera_id, FootfallBucket.hour)).all())
    assert left == {
        (camera, hour_start(hours[kept])) for camera in cameras for kept in ("straddling", "recent")
    }
    assert purge(ledger, now=now)["footfall_deleted"] == 0
    assert purge(ledger, now=now + dt.timedelta(hours=1))["footfall_deleted"] == 2
    assert _count(ledger, FootfallBucket) == 2


def test_purge_needs_an_aware_clock(ledger: Ledger) -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        purge(ledger, now=dt.datetime(2030, 1, 1))
    assert _purges(ledger) == []


def test_a_tenants_purge_touches_only_its_own_rows(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    t0 = utcnow()
    acme, globex = replace(ledger, tenant="acme"), replace(ledger, tenant="globex")
    for tenant in (acme, globex):
        add_site(tenant, "main", "eu")
        _enrolled(tenant, photos, evidence, "main", expires=t0 + DAY)
    later = t0 + 2 * DAY

    report = purge(acme, now=later)
    assert report["templates_deleted"] == {**NOTHING, "expired_consent": 1}
    assert _count(ledger, Template) == 1  # globex's template: not acme's to purge
    assert [e.details for e in _purges(ledger)] == [report]  # globex's log has no entry

    # The operator's scheduled job purges every tenant, auditing each in its own log.
    report = purge(ledger, now=later, every_tenant=True)
    assert report["templates_deleted"] == {**NOTHING, "expired_consent": 1}
    assert _count(ledger, Template) == 0
    with ledger.store.transaction() as s:
        tenant_of: dict[str | None, str] = {
            t.id: t.name for t in s.execute(select(Tenant)).scalars()
        }
    per_tenant = {
        tenant_of[e.tenant_id]: e.details["templates_deleted"]["expired_consent"]
        for e in _purges(ledger)[1:]
    }
    assert per_tenant == {"acme": 0, "globex": 1, DEFAULT_TENANT: 0}
