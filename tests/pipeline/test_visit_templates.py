"""Templates from confirmed visits (consent/visits.py): only under a notice that says so, only
once staff confirm (or a claim is verified), bounded, audited, and gone with withdrawal; a view
held for an alert that is dismissed or left unanswered is deleted (invariant 8)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from consentcam.consent.context import Ledger
from consentcam.consent.gallery import SiteGallery
from consentcam.consent.profiles import HOLD_S, VISIT_TEMPLATES_MAX
from consentcam.consent.rights import withdraw
from consentcam.consent.sites import add_camera
from consentcam.consent.visits import add_visit_template, expire_held_views
from consentcam.events.claims import open_claim
from consentcam.events.staff import confirm_event
from consentcam.pipeline.clips import ClipTruth
from consentcam.pipeline.worker import process_video
from consentcam.store.models import AuditEntry, HeldView, Member, Site, Template, utcnow
from tests.support.seed import enrolled_member


def _member(ledger: Ledger, photos: Path, evidence: Path, notice: str) -> str:
    photo = photos / "obama.jpg"
    return enrolled_member(ledger, "shop", "Barack", photo, evidence, notice_version=notice)


def _count(ledger: Ledger, model: Any, *where: Any) -> int:
    with ledger.store.transaction() as s:
        return int(s.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def _visit_templates(ledger: Ledger, member_id: str) -> int:
    return _count(ledger, Template, Template.member_id == member_id, Template.origin == "visit")


def _door_event(ledger: Ledger, clip: Path) -> dict[str, Any]:
    add_camera(ledger, "shop", "door-1", str(clip), "door", True)
    (event,) = process_video(ledger, "door-1").events
    return event


def test_a_confirmed_door_visit_adds_a_visit_template(
    site_ledger: Ledger, photos: Path, evidence: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    member_id = _member(site_ledger, photos, evidence, "v2")
    event = _door_event(site_ledger, two_people_clip[0])
    with site_ledger.store.transaction() as s:
        (held,) = s.execute(select(HeldView)).scalars()
        assert held.event_id == event["id"] and held.member_id == member_id
        assert len(held.sealed) > 128 * 4  # sealed (AES-GCM header and tag), not a raw vector
    staff = Ledger(site_ledger.store, site_ledger.keys, "staff:ana", site_ledger.settings)
    assert confirm_event(staff, event["id"])["visit_template"] is True
    assert _visit_templates(site_ledger, member_id) == 1
    assert _count(site_ledger, HeldView) == 0
    (entry,) = [a for a in _audit(site_ledger) if a.action == "template.visit"]
    assert entry.actor == "staff:ana" and entry.details["event_id"] == event["id"]
    # The member is still one entry of the gallery: their templates are fused.
    with site_ledger.store.transaction() as s:
        site = s.execute(select(Site)).scalar_one()
    gallery = SiteGallery(site_ledger, site)
    gallery.refresh()
    assert gallery.members == 1


def _audit(ledger: Ledger) -> list[AuditEntry]:
    with ledger.store.transaction() as s:
        rows = list(s.execute(select(AuditEntry)).scalars())
        for row in rows:
            s.expunge(row)
        return rows


def test_a_dismissed_alert_deletes_its_view_and_learns_nothing(
    site_ledger: Ledger, photos: Path, evidence: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    member_id = _member(site_ledger, photos, evidence, "v2")
    event = _door_event(site_ledger, two_people_clip[0])
    assert _count(site_ledger, HeldView) == 1
    assert confirm_event(site_ledger, event["id"], confirm=False)["visit_template"] is False
    assert _count(site_ledger, HeldView) == 0
    assert _visit_templates(site_ledger, member_id) == 0


def test_a_notice_without_visit_learning_holds_nothing(
    site_ledger: Ledger, photos: Path, evidence: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    member_id = _member(site_ledger, photos, evidence, "v1")
    event = _door_event(site_ledger, two_people_clip[0])
    assert _count(site_ledger, HeldView) == 0
    assert confirm_event(site_ledger, event["id"])["visit_template"] is False
    assert _visit_templates(site_ledger, member_id) == 0


def test_views_nobody_answered_expire(
    site_ledger: Ledger, photos: Path, evidence: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    from consentcam.consent.retention import purge

    _member(site_ledger, photos, evidence, "v2")
    _door_event(site_ledger, two_people_clip[0])
    with site_ledger.store.transaction() as s:
        assert expire_held_views(s, utcnow()) == 0  # still waiting for staff
    later = utcnow() + dt.timedelta(seconds=HOLD_S + 1)
    assert purge(site_ledger, now=later)["held_views_deleted"] == 1
    assert _count(site_ledger, HeldView) == 0


def test_visit_templates_are_bounded_oldest_replaced(
    site_ledger: Ledger, photos: Path, evidence: Path
) -> None:
    member_id = _member(site_ledger, photos, evidence, "v2")
    rng = np.random.default_rng(0)
    added = []
    for i in range(VISIT_TEMPLATES_MAX + 2):
        with site_ledger.store.transaction() as s:
            member = s.get(Member, member_id)
            assert member is not None
            vector = rng.normal(size=128).astype(np.float32)
            template = add_visit_template(
                s, site_ledger.keys, member, vector / np.linalg.norm(vector),
                event_id=f"event-{i}", actor="test",
            )  # fmt: skip
            assert template is not None
            added.append(template.id)
    with site_ledger.store.transaction() as s:
        kept = set(
            s.execute(
                select(Template.id).where(
                    Template.member_id == member_id, Template.origin == "visit"
                )
            ).scalars()
        )
    assert len(kept) == VISIT_TEMPLATES_MAX
    assert added[0] not in kept and added[-1] in kept
    assert _count(site_ledger, Template, Template.origin == "enrolment") == 1


def test_withdrawal_deletes_visit_templates_and_held_views(
    site_ledger: Ledger, photos: Path, evidence: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    member_id = _member(site_ledger, photos, evidence, "v2")
    _door_event(site_ledger, two_people_clip[0])
    with site_ledger.store.transaction() as s:
        member = s.get(Member, member_id)
        assert member is not None
        add_visit_template(
            s, site_ledger.keys, member, np.eye(128, dtype=np.float32)[0], event_id="e",
            actor="test",
        )  # fmt: skip
    assert _count(site_ledger, HeldView) == 1 and _visit_templates(site_ledger, member_id) == 1
    receipt = withdraw(site_ledger, member_id)
    assert receipt.deleted_templates == 2
    assert _count(site_ledger, HeldView) == 0 and _count(site_ledger, Template) == 0


@pytest.mark.parametrize(("notice", "learned"), [("v2", 1), ("v1", 0)])
def test_a_verified_claim_adds_a_visit_template_where_the_notice_allows(
    site_ledger: Ledger,
    photos: Path,
    evidence: Path,
    two_people_clip: tuple[Path, ClipTruth],
    notice: str,
    learned: int,
) -> None:
    member_id = _member(site_ledger, photos, evidence, notice)
    add_camera(site_ledger, "shop", "kiosk", str(two_people_clip[0]), "verify", True)
    open_claim(site_ledger, "kiosk", member_id)
    (event,) = process_video(site_ledger, "kiosk").events
    assert event["kind"] == "verification"
    assert _visit_templates(site_ledger, member_id) == learned
    assert _count(site_ledger, HeldView) == 0
