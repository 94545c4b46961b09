"""Issue 15, item 2 over the API: the blurred setup preview (owners and admins only, no face the
detector finds, nothing kept but the audit entry) and the counting line saved where
``camera add --line`` keeps it, so the camera's worker counts with it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from consentcam.consent.sites import add_camera
from consentcam.pipeline.camera import camera_context
from consentcam.store.models import AuditEntry, Camera
from consentcam.vision.decode import load_image
from tests.pipeline.test_preview import faces_found
from tests.support.seed import World


def _floor_camera(world: World, photos: Path, photo: str = "two_people.jpg") -> str:
    """A count camera ``floor`` at acme's north whose source is a folder holding ``photo``."""
    folder = world.evidence.parent / f"frames-{world.evidence.stem}-{world.unique('f')}"
    folder.mkdir()
    shutil.copy(photos / photo, folder / photo)
    return add_camera(world.ledgers["acme"], "north", "floor", str(folder), "count", False).id


def _config(world: World, camera_id: str) -> dict[str, object]:
    with world.ledgers["acme"].store.transaction() as s:
        camera = s.get(Camera, camera_id)
        assert camera is not None
        return dict(camera.config)


def _last_audit(world: World) -> AuditEntry:
    with world.ledgers["acme"].store.transaction() as s:
        entry = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar()
        assert entry is not None
        return entry


def test_the_preview_shows_no_face_and_keeps_only_its_audit_entry(
    world: World, photos: Path
) -> None:
    camera_id = _floor_camera(world, photos)
    assert faces_found(load_image(photos / "two_people.jpg")) == 2
    before = world.rows()
    admin = world.principal("admin", sites=("north",))

    response = world.call(admin, "GET", "/cameras/floor/preview", params={"site": "north"})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    assert (response.headers["x-frame-width"], response.headers["x-frame-height"]) == (
        "1126",
        "661",
    )
    assert int(response.headers["x-faces-blurred"]) >= 2
    assert faces_found(load_image(response.content)) == 0
    after = world.rows()
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {"audit": 1}
    entry = _last_audit(world)
    assert (entry.action, entry.actor, entry.subject) == ("camera.preview", admin.actor, camera_id)
    assert set(entry.details) == {"site", "camera", "faces_blurred"}
    # By id too, and by name without the site where the name is unambiguous.
    assert world.call(admin, "GET", f"/cameras/{camera_id}/preview").status_code == 200
    assert world.call(admin, "GET", "/cameras/floor/preview").status_code == 200


def test_only_owners_and_admins_of_the_site_see_a_preview(world: World, photos: Path) -> None:
    _floor_camera(world, photos, "obama_small.jpg")
    before = world.rows()
    for role in ("staff", "auditor", "kiosk"):
        response = world.call(world.principal(role), "GET", "/cameras/floor/preview")
        assert response.status_code == 403, (role, response.text)
        assert response.headers["content-type"] == "application/json"
    # Out of scope answers exactly as missing, and neither is audited.
    confined = world.call(
        world.principal("admin", sites=("south",)), "GET", "/cameras/floor/preview"
    )
    other = world.call(world.principal("owner", "globex"), "GET", "/cameras/floor/preview")
    assert confined.status_code == other.status_code == 404
    assert confined.content == other.content == b'{"error":"no camera \'floor\'"}'
    assert world.rows() == before
    owner = world.call(world.principal("owner"), "GET", "/cameras/floor/preview")
    assert owner.status_code == 200 and faces_found(load_image(owner.content)) == 0


def test_a_source_that_cannot_be_opened_is_answered_in_words(world: World) -> None:
    before = world.rows()
    response = world.call(world.principal("admin"), "GET", "/cameras/door/preview?site=north")
    assert response.status_code == 400
    assert response.json() == {
        "error": "camera 'door': cannot open video file 'door.mp4': no such file"
    }
    assert world.rows() == before  # not audited: nothing was seen


def test_a_saved_line_is_stored_audited_and_used_by_the_worker(world: World) -> None:
    ledger = world.ledgers["acme"]
    admin = world.principal("admin")
    body = {"start": {"x": 0.1, "y": 0.8}, "end": {"x": 0.9, "y": 0.6}}

    response = world.call(admin, "PUT", "/cameras/door/line", params={"site": "north"}, json=body)

    assert response.status_code == 200, response.text
    assert response.json()["line"] == [0.1, 0.8, 0.9, 0.6]
    assert camera_context(ledger, "door", "north").pipeline.footfall_line == (0.1, 0.8, 0.9, 0.6)
    entry = _last_audit(world)
    assert (entry.action, entry.actor) == ("camera.line", admin.actor)
    assert entry.details == {"site": "north", "camera": "door", "line": [0.1, 0.8, 0.9, 0.6]}
    # The camera's other settings stay; the site's other camera keeps the default line.
    south = camera_context(ledger, "door", "south").pipeline.footfall_line
    assert south == ledger.settings.pipeline.footfall_line
    # Integers are numbers too; the line is shown on the site's cameras.
    whole = {"start": {"x": 0, "y": 0}, "end": {"x": 1, "y": 1}}
    assert world.call(admin, "PUT", "/cameras/door/line?site=north", json=whole).is_success
    cameras = world.call(admin, "GET", "/sites/north/cameras").json()
    assert [c["line"] for c in cameras if c["name"] == "door"] == [[0.0, 0.0, 1.0, 1.0]]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"start": {"x": -0.1, "y": 0.5}, "end": {"x": 1, "y": 0.5}}, 400, "from 0 to 1"),
        ({"start": {"x": 0.0, "y": 0.5}, "end": {"x": 1.5, "y": 0.5}}, 400, "from 0 to 1"),
        ({"start": {"x": 0.5, "y": 0.5}, "end": {"x": 0.52, "y": 0.51}}, 400, "too close"),
        ({"start": {"x": 0.5, "y": 0.5}, "end": {"x": 0.5, "y": 0.5}}, 400, "too close"),
        ({"start": {"x": 0.5, "y": 0.5}}, 422, "end"),
        ({"start": {"x": "0.5", "y": 0.5}, "end": {"x": 1, "y": 1}}, 422, "x"),
        ({"start": {"x": True, "y": 0.5}, "end": {"x": 1, "y": 1}}, 422, "x"),
        ({"start": {"x": 0, "y": 0, "z": 1}, "end": {"x": 1, "y": 1}}, 422, "z"),
        ([0, 0.5, 1, 0.5], 422, ""),
    ],
)
def test_a_bad_line_is_refused_in_words_and_changes_nothing(
    world: World, body: object, status: int, words: str
) -> None:
    ledger = world.ledgers["acme"]
    before, rows = camera_context(ledger, "door", "north").pipeline, world.rows()
    response = world.call(
        world.principal("owner"), "PUT", "/cameras/door/line?site=north", json=body
    )
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert camera_context(ledger, "door", "north").pipeline == before
    assert world.rows() == rows


def test_only_owners_and_admins_of_the_site_save_a_line(world: World) -> None:
    ledger = world.ledgers["acme"]
    body = {"start": {"x": 0.2, "y": 0.2}, "end": {"x": 0.8, "y": 0.8}}
    rows = world.rows()
    for role in ("staff", "auditor", "kiosk"):
        response = world.call(
            world.principal(role), "PUT", "/cameras/door/line?site=north", json=body
        )
        assert response.status_code == 403, role
    confined = world.principal("admin", sites=("south",))
    response = world.call(confined, "PUT", "/cameras/door/line?site=north", json=body)
    assert response.status_code == 404 and response.json() == {"error": "no site named 'north'"}
    # Confined to south, "door" is south's door camera: north's stays as it was.
    assert world.call(confined, "PUT", "/cameras/door/line", json=body).is_success
    assert camera_context(ledger, "door", "south").pipeline.footfall_line == (0.2, 0.2, 0.8, 0.8)
    north = camera_context(ledger, "door", "north").pipeline.footfall_line
    assert north == ledger.settings.pipeline.footfall_line
    after = world.rows()
    assert {k: after[k] - rows[k] for k in after if after[k] != rows[k]} == {"audit": 1}
