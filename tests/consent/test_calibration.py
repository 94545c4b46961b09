from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from consentcam.consent.calibration import calibration
from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger, site_by_name
from consentcam.consent.enrolment import enroll
from consentcam.consent.gallery import SiteGallery
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_site
from consentcam.errors import NotFound
from consentcam.model_card import model_card
from consentcam.store.models import AuditEntry, Consent, utcnow


def test_site_report_counts_the_gallery_in_sql(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    add_site(ledger, "shanghai", "cn")
    add_site(ledger, "berlin", "eu")
    enrolled = add_member(ledger, "shanghai", "Enrolled")
    consent = record_consent(ledger, enrolled.id, purpose="recognition", evidence=evidence)
    enroll(ledger, enrolled.id, [photos / "obama.jpg"])
    consenting = add_member(ledger, "shanghai", "Consent but no template")
    record_consent(ledger, consenting.id, purpose="recognition", evidence=evidence)
    add_member(ledger, "shanghai", "Loyalty only")

    def audit_entries() -> int:
        with ledger.store.transaction() as s:
            return int(s.execute(select(func.count()).select_from(AuditEntry)).scalar_one())

    before = audit_entries()
    report = calibration(ledger, "shanghai")
    assert report["site"] == "shanghai" and report["jurisdiction"] == "cn"
    assert report["gallery_members"] == 1
    assert report["threshold"] == model_card().identification_threshold(1)
    assert report["filing"]["enrolled_people"] == 1 and report["filing"]["status"] == "ok"
    with ledger.store.transaction() as s:
        gallery = SiteGallery(ledger, site_by_name(s, "shanghai"))
    gallery.refresh()
    assert gallery.members == report["gallery_members"]  # the count the matcher uses

    eu = calibration(ledger, "berlin", target_fpir=0.01)
    assert eu["gallery_members"] == 0 and eu["filing"] is None and eu["target_fpir"] == 0.01

    with ledger.store.transaction() as s:  # the consent lapses; purge has not run yet
        s.get(Consent, consent.id).expires_at = utcnow()  # type: ignore[union-attr]
    lapsed = calibration(ledger, "shanghai")
    assert lapsed["gallery_members"] == 0
    assert lapsed["filing"]["enrolled_people"] == 1  # still stored, so still counted
    assert audit_entries() == before  # a read of configuration, not of people

    with pytest.raises(NotFound, match="no site named"):
        calibration(ledger, "nowhere")
