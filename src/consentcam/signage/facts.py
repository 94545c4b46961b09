"""What the compliance documents state about a deployment, read from the store: sites, their
profiles and retention, cameras with mode and signage status, enrolled-people counters, webhook
recipients. Configuration and counts only: nothing is decrypted and no person is named, so
reading these facts is not an audited access to personal data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import Session

from consentcam.consent.calibration import enrolled_people, site_gallery_size
from consentcam.consent.context import Ledger, site_by_name
from consentcam.consent.profiles import FACE_MODES, Profile, profile
from consentcam.match.calibration import calibration_at, filing_status
from consentcam.signage.content import SignSite
from consentcam.store.models import (
    AuditEntry,
    Camera,
    Member,
    Purchase,
    Site,
    Template,
    Webhook,
    utcnow,
)


def sign_site(ledger: Ledger, name: str) -> tuple[SignSite, Profile]:
    """The site a sign is for (with the camera modes in use) and its profile; NotFound if the
    ledger's tenant has no such site."""
    with ledger.store.transaction() as s:
        site = site_by_name(s, name, ledger.tenant_id(s))
        modes = s.execute(select(Camera.mode).where(Camera.site_id == site.id).distinct())
        return SignSite(site.name, frozenset(modes.scalars()), site.id), profile(site.jurisdiction)


def store_facts(
    ledger: Ledger, site_name: str | None = None, site_ids: Collection[str] | None = None
) -> dict[str, Any]:
    """The deployment as the documents describe it: every site of the ledger's tenant, only
    ``site_name`` (NotFound if the tenant has no such site), or only the sites in ``site_ids``
    (a caller's scope)."""
    now = utcnow()
    with ledger.store.transaction() as s:
        tenant_id = ledger.tenant_id(s)
        query = select(Site).where(Site.tenant_id == tenant_id).order_by(Site.name)
        if site_name is not None:
            query = query.where(Site.id == site_by_name(s, site_name, tenant_id).id)
        if site_ids is not None:
            query = query.where(Site.id.in_(list(site_ids)))
        sites = list(s.execute(query).scalars())
        whole_tenant = site_name is None and site_ids is None
        people = enrolled_people(s, tenant_id)
        audit = select(func.count()).where(AuditEntry.tenant_id == tenant_id)
        return {
            "tenant": ledger.tenant,
            "generated_at": now.isoformat(timespec="seconds"),
            "scope": "tenant" if whole_tenant else "sites",
            "sites": [site_facts(s, site, people, now) for site in sites],
            "enrolled_people": people,
            "recipients": recipients(s, tenant_id, [site.id for site in sites], whole_tenant),
            "template_key_id": ledger.keys.key_id,
            "audit_entries": _count(s, audit),
        }


def site_facts(s: Session, site: Site, tenant_people: int, now: dt.datetime) -> dict[str, Any]:
    rules = profile(site.jurisdiction)
    cameras = s.execute(
        select(Camera).where(Camera.site_id == site.id).order_by(Camera.name)
    ).scalars()
    camera_rows = [
        {
            "name": c.name,
            "mode": c.mode,
            "face_mode": c.mode in FACE_MODES,
            "signage_attested": c.signage_attested,
            "allowed_by_profile": c.mode in rules.allowed_modes,
        }
        for c in cameras
    ]
    enrolled = site_gallery_size(s, site, now)
    calibration = calibration_at(enrolled)
    return {
        "name": site.name,
        "jurisdiction": site.jurisdiction,
        "profile": rules.name,
        "source": rules.source,
        "allowed_modes": sorted(rules.allowed_modes),
        "cameras": camera_rows,
        "signage": signage_status(camera_rows),
        "members": _count(s, select(func.count()).where(Member.site_id == site.id)),
        "enrolled_members": enrolled,
        "members_with_templates": _count(
            s,
            select(func.count(distinct(Template.member_id)))
            .join(Member, Member.id == Template.member_id)
            .where(Member.site_id == site.id),
        ),
        "members_with_purchases": _count(
            s,
            select(func.count(distinct(Purchase.member_id)))
            .join(Member, Member.id == Purchase.member_id)
            .where(Member.site_id == site.id),
        ),
        "retention_days": {
            "template_inactivity": rules.template_inactivity_days,
            "events": rules.event_retention_days,
            "footfall": rules.footfall_retention_days,
        },
        "guardian_under": rules.guardian_under,
        "written_release": rules.written_release,
        "filing": (
            filing_status(tenant_people, rules.filing_thresholds)
            if rules.filing_thresholds
            else None
        ),
        "expected_false_alerts_per_1000_non_members": calibration[
            "expected_false_alerts_per_1000_non_members"
        ],
    }


def signage_status(cameras: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the signs a site needs are attested: every face-mode camera needs them
    (privacy invariant 7); a site with only counting cameras needs none from consentcam."""
    face = [c for c in cameras if c["face_mode"]]
    missing = [c["name"] for c in face if not c["signage_attested"]]
    status = "missing" if missing else "attested" if face else "not needed (count only)"
    return {"status": status, "face_cameras": len(face), "missing": missing}


def recipients(s: Session, tenant_id: str, site_ids: list[str], whole_tenant: bool) -> list[str]:
    """Where event notifications go: the active webhooks' scheme and host only (paths and
    queries of hook URLs often hold tokens)."""
    query = select(Webhook.url).where(Webhook.tenant_id == tenant_id, Webhook.active.is_(True))
    if not whole_tenant:
        query = query.where(or_(Webhook.site_id.is_(None), Webhook.site_id.in_(site_ids)))
    return sorted({origin(url) for url in s.execute(query).scalars()})


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


def _count(s: Session, query: Any) -> int:
    return int(s.execute(query).scalar_one())
