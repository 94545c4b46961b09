"""Cameras over the API (issue 15): health in the list, change and remove under the rules of
adding one, refusals in words that change nothing, masked sources, audit entries, and who may
do what."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from consentcam.pipeline.heartbeat import Beat, write_beat
from consentcam.store.models import AuditEntry, Camera, utcnow
from tests.support.seed import World

STREAM = "rtsp://viewer:s3cret@10.0.0.7:554/stream1?token=abc"


def _camera_id(world: World, site: str, name: str) -> str:
    with world.ledgers["acme"].store.transaction() as s:
        return s.execute(
            select(Camera.id).where(Camera.site_id == world.sites[site].id, Camera.name == name)
        ).scalar_one()


def _audit(world: World, action: str, subject: str) -> list[AuditEntry]:
    with world.ledgers["acme"].store.transaction() as s:
        rows = list(
            s.execute(
                select(AuditEntry).where(AuditEntry.action == action, AuditEntry.subject == subject)
            ).scalars()
        )
        s.expunge_all()
        return rows


def test_the_list_carries_each_cameras_health(world: World) -> None:
    admin = world.principal("admin")
    added = world.call(
        admin,
        "POST",
        "/sites/north/cameras",
        json={"name": "yard", "source": "yard.mp4", "mode": "count"},
    )
    assert added.status_code == 201, added.text
    door = _camera_id(world, "north", "door")
    now = utcnow()
    with world.ledgers["acme"].store.transaction() as s:
        write_beat(s, door, Beat(9.5, 300, 4, 1, now - dt.timedelta(seconds=1), "stalled"), now)
    staff = world.call(world.principal("staff"), "GET", "/sites/north/cameras")
    assert staff.status_code == 200
    cameras = {c["name"]: c for c in staff.json()}
    health = cameras["door"]["health"]
    assert health["state"] == "online" and health["stale_after_s"] == 15.0
    assert (health["fps"], health["frames"], health["dropped"], health["reconnects"]) == (
        9.5,
        300,
        4,
        1,
    )
    assert health["restarts"] == 0 and health["last_error"] == "stalled"
    assert cameras["door"]["mode"] == "door" and cameras["door"]["signage_attested"] is True
    assert cameras["yard"]["health"]["state"] == "never seen"

    with world.ledgers["acme"].store.transaction() as s:  # the worker stopped a minute ago
        old = now - dt.timedelta(seconds=60)
        write_beat(s, door, Beat(9.5, 300, 4, 1, old, None), old)
    again = world.call(world.principal("auditor"), "GET", "/sites/north/cameras").json()
    (door_now,) = [c for c in again if c["name"] == "door"]
    assert door_now["health"]["state"] == "offline"
    assert door_now["health"]["reason"].startswith("no heartbeat for 60 s")


def test_a_change_is_applied_audited_and_shown_masked(world: World) -> None:
    admin = world.principal("admin")
    cid = _camera_id(world, "north", "door")
    changed = world.call(
        admin,
        "PATCH",
        "/sites/north/cameras/door",
        json={"mode": "lane", "source": STREAM, "line": [0, 0.6, 1, 0.6], "detect_scale": 0.5},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["mode"], body["source"], body["line"], body["detect_scale"]) == (
        "lane",
        "rtsp://10.0.0.7:554/…",
        [0, 0.6, 1, 0.6],
        0.5,
    )
    listed = world.call(admin, "GET", "/sites/north/cameras").text
    assert "s3cret" not in listed and "token=abc" not in listed
    (entry,) = _audit(world, "camera.update", cid)
    assert entry.details["source"] == "rtsp://10.0.0.7:554/…" and "s3cret" not in str(entry.details)

    cleared = world.call(admin, "PATCH", f"/sites/north/cameras/{cid}", json={"line": None})
    assert cleared.status_code == 200 and cleared.json()["line"] is None
    assert cleared.json()["detect_scale"] == 0.5  # not sent: kept


def test_refused_changes_name_the_rule_and_change_nothing(world: World) -> None:
    admin = world.principal("admin")
    world.call(admin, "POST", "/sites", json={"name": "pdx", "jurisdiction": "us-portland"})
    added = world.call(
        admin, "POST", "/sites/pdx/cameras", json={"name": "f", "source": "f.mp4", "mode": "count"}
    )
    assert added.status_code == 201
    before = world.rows()
    with world.ledgers["acme"].store.transaction() as s:
        door_before = s.execute(select(Camera).where(Camera.name == "door")).scalars().all()
        snapshot = sorted((c.id, c.mode, c.signage_attested, c.source) for c in door_before)

    unsigned = world.call(
        admin, "PATCH", "/sites/north/cameras/door", json={"signage_attested": False}
    )
    banned = world.call(
        admin,
        "PATCH",
        "/sites/pdx/cameras/f",
        json={"mode": "door", "signage_attested": True},
    )
    public = world.call(
        admin, "PATCH", "/sites/north/cameras/door", json={"source": "rtsp://8.8.8.8/live"}
    )
    bad_line = world.call(admin, "PATCH", "/sites/north/cameras/door", json={"line": [0, 0, 2, 2]})
    unknown = world.call(admin, "PATCH", "/sites/north/cameras/nope", json={"mode": "count"})
    assert (unsigned.status_code, banned.status_code, public.status_code) == (403, 403, 403)
    assert (bad_line.status_code, unknown.status_code) == (400, 404)
    assert "attest that the signs are up" in unsigned.json()["error"]
    assert "not allowed under the us-portland profile" in banned.json()["error"]
    assert "outside the camera networks" in public.json()["error"]
    assert "counting line's points must lie in the picture" in bad_line.json()["error"]
    assert world.rows() == before
    with world.ledgers["acme"].store.transaction() as s:
        after = s.execute(select(Camera).where(Camera.name == "door")).scalars().all()
        assert sorted((c.id, c.mode, c.signage_attested, c.source) for c in after) == snapshot


def test_remove_is_audited_and_only_for_those_who_manage_cameras(world: World) -> None:
    cid = _camera_id(world, "north", "door")
    for role in ("staff", "auditor", "kiosk"):
        assert (
            world.call(world.principal(role), "DELETE", "/sites/north/cameras/door").status_code
            == 403
        )
        assert (
            world.call(
                world.principal(role), "PATCH", "/sites/north/cameras/door", json={"mode": "count"}
            ).status_code
            == 403
        )
    # Another tenant's owner and a caller confined to another site do not find it.
    assert (
        world.call(
            world.principal("owner", "globex"), "DELETE", f"/sites/north/cameras/{cid}"
        ).status_code
        == 404
    )
    confined = world.principal("admin", sites=("south",))
    assert world.call(confined, "DELETE", "/sites/north/cameras/door").status_code == 404

    removed = world.call(world.principal("owner"), "DELETE", "/sites/north/cameras/door")
    assert removed.status_code == 200, removed.text
    assert removed.json() == {
        "site": "north",
        "camera": "door",
        "mode": "door",
        "footfall_hours": 0,
        "events_kept": 0,
    }
    (entry,) = _audit(world, "camera.remove", cid)
    assert entry.actor.startswith("user:owner")
    names = [
        c["name"]
        for c in world.call(world.principal("staff"), "GET", "/sites/north/cameras").json()
    ]
    assert "door" not in names
