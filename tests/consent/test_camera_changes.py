"""Changing and removing a camera: the rules of adding one (profile, signage, source), refusals
that leave it as it was, audit entries, and what goes with a removed camera (issue 15)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from consentcam.audit import chain
from consentcam.consent.context import Ledger
from consentcam.consent.sites import add_camera, add_site, remove_camera, update_camera
from consentcam.errors import InputError, NotFound, PolicyError
from consentcam.pipeline.camera import camera_context
from consentcam.pipeline.footfall import add_footfall
from consentcam.pipeline.heartbeat import Beat, write_beat
from consentcam.store.models import AuditEntry, Camera, CameraHeartbeat, FootfallBucket
from consentcam.track.footfall import FootfallCounts
from tests.support.leaks import rows_mentioning

STREAM = "rtsp://admin:s3cret-pw@10.0.0.9:554/stream1?token=t0k3n"
NOW = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)


def _camera(ledger: Ledger, name: str) -> dict[str, object]:
    with ledger.store.transaction() as s:
        c = s.execute(select(Camera).where(Camera.name == name)).scalar_one()
        return {
            "mode": c.mode,
            "signage_attested": c.signage_attested,
            "source": c.source,
            "sealed": c.source_sealed,
            "config": dict(c.config),
        }


def _audit(ledger: Ledger, action: str) -> list[AuditEntry]:
    with ledger.store.transaction() as s:
        rows = list(s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())
        s.expunge_all()
        return rows


@pytest.fixture
def shop(ledger: Ledger) -> Ledger:
    add_site(ledger, "flagship", "eu")
    add_site(ledger, "pdx", "us-portland")  # the profile bans face recognition
    add_camera(ledger, "flagship", "entrance", "entrance.mp4", "count", False)
    add_camera(ledger, "pdx", "front", "front.mp4", "count", False)
    return ledger


def test_refused_changes_say_which_rule_and_change_nothing(shop: Ledger) -> None:
    before = _camera(shop, "entrance")
    with pytest.raises(PolicyError, match="attest that the signs are up"):
        update_camera(shop, "flagship", "entrance", mode="door")
    with pytest.raises(PolicyError, match="not allowed under the us-portland profile"):
        update_camera(shop, "pdx", "front", mode="lane", signage_attested=True)
    with pytest.raises(PolicyError, match="outside the camera networks"):
        update_camera(shop, "flagship", "entrance", source="rtsp://8.8.8.8/live", over_api=True)
    with pytest.raises(InputError, match="points must lie in the picture"):
        update_camera(shop, "flagship", "entrance", config={"footfall_line": [0, 0, 2, 2]})
    with pytest.raises(InputError, match="unknown mode"):
        update_camera(shop, "flagship", "entrance", mode="covert")
    with pytest.raises(NotFound):
        update_camera(shop, "pdx", "entrance", mode="count")  # another site's camera
    assert _camera(shop, "entrance") == before
    assert _audit(shop, "camera.update") == []

    # A face mode cannot lose its signs while it runs.
    update_camera(shop, "flagship", "entrance", mode="door", signage_attested=True)
    with pytest.raises(PolicyError, match="attest that the signs are up"):
        update_camera(shop, "flagship", "entrance", signage_attested=False)
    assert _camera(shop, "entrance")["signage_attested"] is True


def test_a_change_is_audited_with_the_source_masked(shop: Ledger) -> None:
    update_camera(
        shop,
        "flagship",
        "entrance",
        mode="lane",
        signage_attested=True,
        source=STREAM,
        config={"footfall_line": [0.0, 0.6, 1.0, 0.6], "detect_scale": 0.5},
    )
    after = _camera(shop, "entrance")
    assert (after["mode"], after["signage_attested"], after["source"]) == (
        "lane",
        True,
        "rtsp://10.0.0.9:554/…",
    )
    assert after["config"] == {"footfall_line": [0.0, 0.6, 1.0, 0.6], "detect_scale": 0.5}
    assert camera_context(shop, "entrance").source == STREAM  # what the worker opens
    assert rows_mentioning(shop, "s3cret-pw", "t0k3n") == []  # the audit log included
    (entry,) = _audit(shop, "camera.update")
    assert entry.details["source"] == "rtsp://10.0.0.9:554/…" and entry.details["mode"] == "lane"

    update_camera(shop, "flagship", "entrance", config={"footfall_line": None})
    assert _camera(shop, "entrance")["config"] == {"detect_scale": 0.5}
    update_camera(shop, "flagship", "entrance", mode="lane")  # nothing changes: no entry
    assert len(_audit(shop, "camera.update")) == 2
    with shop.store.transaction() as s:
        assert chain.verify(s).ok


def test_removing_a_camera_takes_its_counts_and_health_and_is_audited(shop: Ledger) -> None:
    with shop.store.transaction() as s:
        cid = s.execute(select(Camera.id).where(Camera.name == "entrance")).scalar_one()
        add_footfall(s, cid, {NOW: FootfallCounts(entries=3, exits=2, visits=3)})
        write_beat(s, cid, Beat(10.0, 100, 0, 0, NOW, None), NOW)
    removed = remove_camera(shop, "flagship", "entrance")
    assert removed == {
        "site": "flagship",
        "camera": "entrance",
        "mode": "count",
        "footfall_hours": 1,
        "events_kept": 0,
    }
    with shop.store.transaction() as s:
        assert s.get(Camera, cid) is None
        assert s.execute(select(FootfallBucket)).first() is None
        assert s.execute(select(CameraHeartbeat)).first() is None
    (entry,) = _audit(shop, "camera.remove")
    assert entry.subject == cid and entry.details["camera"] == "entrance"
    with pytest.raises(NotFound):
        remove_camera(shop, "flagship", "entrance")
