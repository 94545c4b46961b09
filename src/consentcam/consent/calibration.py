"""A site's calibration report, read from the store: the threshold in force for the site's
gallery and what it means (``match/calibration.py`` computes it from the model card), and the
site's chosen false-alert budget.

Reading the report reads configuration and counts, never people: nothing is decrypted and no
audit entry is written.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.context import Ledger, site_by_name
from consentcam.consent.gallery import bump_version, live_templates
from consentcam.consent.profiles import profile
from consentcam.match.calibration import calibration_at, camera_tradeoff, filing_status
from consentcam.model_card import model_card
from consentcam.store.models import Site, Template, utcnow


def calibration(ledger: Ledger, site_name: str, target_fpir: float | None = None) -> dict[str, Any]:
    """The calibration report of ``site_name`` at its current gallery size (see
    ``calibration_at``), plus, where the site's profile sets filing thresholds (``cn``), the
    tenant-wide count of enrolled people against them."""
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        rules = profile(site.jurisdiction)
        size = site_gallery_size(s, site)
        report: dict[str, Any] = {
            "site": site.name,
            "jurisdiction": site.jurisdiction,
            **calibration_at(size, target_fpir),
            "cameras": camera_tradeoff(size, site.false_alerts_per_1000),
        }
        report["filing"] = (
            filing_status(enrolled_people(s, site.tenant_id), rules.filing_thresholds)
            if rules.filing_thresholds
            else None
        )
        return report


def set_false_alert_budget(
    ledger: Ledger, site_name: str, false_alerts_per_1000: float | None
) -> dict[str, Any]:
    """Choose the site's operating point (None: back to the model card's default); refused
    outside the measured range. Audited with the old and new budget; the site's workers pick
    it up at their next refresh (a fraction of a second). Returns the new calibration report."""
    card = model_card()
    if false_alerts_per_1000 is not None:
        card.track_point(1, false_alerts_per_1000)  # InputError outside the measured range
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        before = site.false_alerts_per_1000
        site.false_alerts_per_1000 = false_alerts_per_1000
        bump_version(s, site.id)
        chain.append(
            s,
            actor=ledger.actor,
            action="site.false_alert_budget",
            subject=site.id,
            details={
                "site": site.name,
                "before": before,
                "after": false_alerts_per_1000,
                "model_card_version": card.version,
            },
            tenant_id=site.tenant_id,
        )
    return calibration(ledger, site_name)


def site_gallery_size(s: Session, site: Site, now: dt.datetime | None = None) -> int:
    """Members searched at ``site``: at home there, with at least one template whose
    recognition consent is in force and covers the site (counted in SQL, nothing decrypted)."""
    query = select(func.count(distinct(Template.member_id))).select_from(Template)
    return int(s.execute(live_templates(query, site.id, now or utcnow())).scalar_one())


def enrolled_people(s: Session, tenant_id: str) -> int:
    """People with a stored template anywhere in the tenant, each counted once (per member
    record: one person enrolled as two members counts twice, since telling would need a
    biometric comparison)."""
    return int(
        s.execute(
            select(func.count(distinct(Template.member_id))).where(Template.tenant_id == tenant_id)
        ).scalar_one()
    )
