"""Issue 15, item 2: a camera's setup preview shows no face the detector can find, keeps nothing
but its audit entry, and says in words why a source cannot be previewed."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from consentcam.config import DetectSettings
from consentcam.consent.context import Ledger
from consentcam.consent.sites import add_camera, add_site
from consentcam.errors import NotFound, PolicyError, SourceError
from consentcam.pipeline import preview as preview_module
from consentcam.pipeline.preview import blurred_faces, camera_preview, current_frame
from consentcam.store.models import AuditEntry, Base
from consentcam.vision.decode import load_image
from consentcam.vision.detect import face_detections
from consentcam.vision.records import ImageArray
from tests.support.leaks import log_text

# The project's detector at its most sensitive settings: upsampled once and twice, at full size.
SEARCHES = [DetectSettings(upsample=u, retry_upsample=0, max_side=0) for u in (0, 1, 2)]


def faces_found(image: ImageArray) -> int:
    """The faces the project's detector finds in ``image``, at the most it finds with any of
    SEARCHES (so a blurred image passes only when every search finds nothing)."""
    return max(len(face_detections(image, s, retry=False)) for s in SEARCHES)


def frames_folder(folder: Path, *photos: Path) -> Path:
    """An image-folder camera source holding ``photos``."""
    folder.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    return folder


@pytest.mark.parametrize("photo", ["two_people.jpg", "obama_small.jpg", "biden.jpg"])
def test_a_blurred_frame_shows_no_face_the_detector_finds(photos: Path, photo: str) -> None:
    image = load_image(photos / photo)
    assert faces_found(image) >= 1  # the unblurred frame has faces to hide
    blurred, regions = blurred_faces(image)
    assert regions >= faces_found(image)
    assert faces_found(blurred) == 0
    assert faces_found(load_image(preview_module.jpeg_bytes(blurred))) == 0
    # Only the faces and their surroundings changed: the rest is there to place a line by (a
    # third even of a close-up portrait, where the face fills the frame).
    assert np.mean(np.all(blurred == image, axis=2)) > 0.3


def test_a_face_left_after_every_pass_refuses_the_preview(
    photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When blurring cannot hide a face, no picture at all is better than that face."""
    monkeypatch.setattr(preview_module, "blur_region", lambda image, box: None)
    with pytest.raises(PolicyError, match="still shows a face"):
        blurred_faces(load_image(photos / "obama_small.jpg"))


def test_camera_preview_keeps_nothing_but_its_audit_entry(
    ledger: Ledger,
    photos: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = frames_folder(tmp_path / "frames", photos / "two_people.jpg")
    add_site(ledger, "shop", "eu")
    camera = add_camera(ledger, "shop", "floor", str(source), "count", False)
    before_rows = rows(ledger)
    before_files = _files(ledger.settings.data_dir)
    caplog.set_level(logging.DEBUG)

    preview = camera_preview(ledger, "floor", "shop")

    assert preview.jpeg[:3] == b"\xff\xd8\xff"
    assert (preview.width, preview.height) == (1126, 661)
    assert preview.faces_blurred >= 2
    assert faces_found(load_image(preview.jpeg)) == 0
    after_rows = rows(ledger)
    changed = {
        k: after_rows[k] - before_rows[k] for k in after_rows if after_rows[k] != before_rows[k]
    }
    assert changed == {"audit": 1}
    with ledger.store.transaction() as s:
        entry = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc())).scalars().first()
        assert entry is not None
        assert (entry.action, entry.actor, entry.subject) == (
            "camera.preview",
            ledger.actor,
            camera.id,
        )
        assert entry.details == {"site": "shop", "camera": "floor", "faces_blurred": 2}
    # No file was added to the data directory, and the ones there hold no part of the picture.
    after_files = _files(ledger.settings.data_dir)
    assert set(after_files) == set(before_files)
    chunk = preview.jpeg[len(preview.jpeg) // 2 : len(preview.jpeg) // 2 + 64]
    for path in after_files:
        assert chunk not in path.read_bytes(), path
    logged = log_text(caplog)
    assert repr(chunk)[2:-1] not in logged and str(list(chunk[:8])) not in logged


def test_a_video_clips_first_frame_is_previewed_blurred(
    ledger: Ledger, stranger_clip: Path
) -> None:
    add_site(ledger, "shop", "eu")
    add_camera(ledger, "shop", "door", str(stranger_clip), "count", False)
    unblurred = current_frame(str(stranger_clip), "door", ledger.settings)
    assert faces_found(unblurred) == 1

    preview = camera_preview(ledger, "door", "shop")

    assert (preview.width, preview.height) == (640, 360)
    assert faces_found(load_image(preview.jpeg)) == 0


def test_a_source_that_cannot_be_opened_is_refused_in_words_and_audits_nothing(
    ledger: Ledger, tmp_path: Path
) -> None:
    add_site(ledger, "shop", "eu")
    add_camera(ledger, "shop", "gone", str(tmp_path / "gone.mp4"), "count", False)
    with ledger.store.transaction() as s:
        before = len(s.execute(select(AuditEntry)).all())
    with pytest.raises(SourceError, match=r"camera 'gone': cannot open video file .*no such file"):
        camera_preview(ledger, "gone", "shop")
    with pytest.raises(NotFound):
        camera_preview(ledger, "nowhere", "shop")
    with ledger.store.transaction() as s:
        assert len(s.execute(select(AuditEntry)).all()) == before


def test_a_live_source_that_sends_nothing_is_closed_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch, ledger: Ledger
) -> None:
    """A stream that connects and then sends no frame must not hold the request for ever."""

    class Silent:
        camera, fps, live = "door", None, True

        def __init__(self) -> None:
            import threading

            self.closed = threading.Event()

        def frames(self):  # type: ignore[no-untyped-def]
            self.closed.wait(30)
            return iter(())

        def close(self) -> None:
            self.closed.set()

    silent = Silent()
    monkeypatch.setattr(preview_module, "open_source", lambda *a, **k: silent)
    with pytest.raises(SourceError, match=r"no frame arrived within 0\.2 s"):
        current_frame("rtsp://camera.lan/stream", "door", ledger.settings, timeout_s=0.2)
    assert silent.closed.is_set()


def rows(ledger: Ledger) -> dict[str, int]:
    """Row count of every table: what a preview may change (its audit entry only)."""
    with ledger.store.transaction() as s:
        return {
            table.name: int(s.execute(select(func.count()).select_from(table)).scalar_one())
            for table in Base.metadata.sorted_tables
        }


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())
