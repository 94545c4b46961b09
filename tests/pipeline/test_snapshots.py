"""Door snapshots (consent/pictures.py, invariant 8): a member alert keeps the track's best face
picture only where the member consented to pictures; dismissed or unanswered, it is deleted at
once; streams carry links, not images; and an unknown track's pictures never leave memory, even
with snapshots on (invariant 2)."""

from __future__ import annotations

import datetime as dt
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger
from consentcam.consent.enrolment import enroll
from consentcam.consent.members import add_member
from consentcam.consent.pictures import event_snapshot, expire_snapshots
from consentcam.consent.profiles import HOLD_S
from consentcam.consent.sites import add_camera
from consentcam.errors import NotFound
from consentcam.events.staff import confirm_event
from consentcam.pipeline import decisions
from consentcam.pipeline.clips import ClipTruth
from consentcam.pipeline.worker import process_video
from consentcam.store.models import AuditEntry, MemberImage, utcnow
from consentcam.vision.align import face_picture, picture_jpeg
from tests.pipeline.test_visit_templates import _door_event
from tests.pipeline.test_worker import assert_nowhere


def _member(ledger: Ledger, photos: Path, evidence: Path, *, pictures: bool) -> str:
    member = add_member(ledger, "shop", "Barack")
    for purpose in ("recognition", "portrait") if pictures else ("recognition",):
        record_consent(ledger, member.id, purpose=purpose, evidence=evidence, notice_version="v3")
    enroll(ledger, member.id, [photos / "obama.jpg"], portrait=pictures)
    return member.id


def _snapshots(ledger: Ledger) -> list[MemberImage]:
    with ledger.store.transaction() as s:
        rows = list(s.execute(select(MemberImage).where(MemberImage.kind == "snapshot")).scalars())
        for row in rows:
            s.expunge(row)
        return rows


def test_a_door_alert_keeps_the_members_snapshot_and_links_to_it(
    site_ledger: Ledger, photos: Path, evidence: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    member_id = _member(site_ledger, photos, evidence, pictures=True)
    event = _door_event(site_ledger, two_people_clip[0])
    (row,) = _snapshots(site_ledger)  # Obama's, not the passer-by's (decided unknown)
    assert row.event_id == event["id"] and row.member_id == member_id
    assert event["payload"]["pictures"] == {
        "portrait": f"/api/v1/members/{member_id}/portrait",
        "snapshot": f"/api/v1/events/{event['id']}/snapshot",
    }
    staff = Ledger(site_ledger.store, site_ledger.keys, "staff:ana", site_ledger.settings)
    jpeg = event_snapshot(staff, event["id"])
    assert Image.open(io.BytesIO(jpeg)).size == (150, 150)
    with site_ledger.store.transaction() as s:
        actions = [
            (a.action, a.actor, a.details)
            for a in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
        ]
    assert ("snapshot.view", "staff:ana", {"event_id": event["id"]}) in actions
    alert = next(d for a, _, d in actions if a == "recognition.alert")
    assert alert["snapshot_kept"] is True
    # Confirmed: the member was at the door; the snapshot stays with the event.
    confirm_event(staff, event["id"])
    assert len(_snapshots(site_ledger)) == 1


def test_a_dismissed_alert_loses_its_snapshot_at_once(
    site_ledger: Ledger, photos: Path, evidence: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    _member(site_ledger, photos, evidence, pictures=True)
    event = _door_event(site_ledger, two_people_clip[0])
    answer = confirm_event(site_ledger, event["id"], confirm=False)
    assert answer["status"] == "dismissed"
    assert _snapshots(site_ledger) == []
    with pytest.raises(NotFound, match="no snapshot"):
        event_snapshot(site_ledger, event["id"])
    with site_ledger.store.transaction() as s:
        (entry,) = s.execute(
            select(AuditEntry).where(AuditEntry.action == "event.dismissed")
        ).scalars()
        assert entry.details["snapshot_deleted"] is True


def test_an_unanswered_alert_loses_its_snapshot(
    site_ledger: Ledger, photos: Path, evidence: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    _member(site_ledger, photos, evidence, pictures=True)
    event = _door_event(site_ledger, two_people_clip[0])
    with site_ledger.store.transaction() as s:
        assert expire_snapshots(s, utcnow()) == 0  # staff may still answer
    at = dt.datetime.fromisoformat(event["at"]) + dt.timedelta(seconds=HOLD_S + 1)
    with site_ledger.store.transaction() as s:
        assert expire_snapshots(s, at) == 1
    assert _snapshots(site_ledger) == []


def test_no_snapshot_without_the_members_consent_to_pictures(
    site_ledger: Ledger, photos: Path, evidence: Path, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    _member(site_ledger, photos, evidence, pictures=False)
    event = _door_event(site_ledger, two_people_clip[0])
    assert _snapshots(site_ledger) == []
    assert event["payload"]["pictures"] == {"portrait": None, "snapshot": None}


def test_an_unknown_track_keeps_no_picture_even_with_snapshots_on(
    site_ledger: Ledger,
    photos: Path,
    evidence: Path,
    stranger_clip: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Invariant 2 with pictures for staff on: a member consented to snapshots, a stranger walks
    through the door camera. The pictures framed of his face to choose a snapshot are nowhere
    in the store, the data directory or the logs, raw or as JPEG."""
    _member(site_ledger, photos, evidence, pictures=True)
    framed: list[np.ndarray] = []
    real = face_picture

    def spy(*args: Any) -> np.ndarray:
        picture = real(*args)
        framed.append(picture.copy())
        return picture

    monkeypatch.setattr(decisions, "face_picture", spy)
    caplog.set_level(logging.DEBUG)
    add_camera(site_ledger, "shop", "door-1", str(stranger_clip), "door", True)
    result = process_video(site_ledger, "door-1")
    assert framed, "the stranger's face was framed (door mode), so there is something to find"
    assert not result.events
    with site_ledger.store.transaction() as s:
        kinds = s.execute(select(MemberImage.kind, func.count()).group_by(MemberImage.kind))
        assert dict(kinds.all()) == {"portrait": 1}
    needles = [p[70:72].tobytes() for p in framed] + [picture_jpeg(p)[300:340] for p in framed]
    assert_nowhere(site_ledger, caplog.text, needles)
