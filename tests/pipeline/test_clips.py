"""Labelled synthetic clips (pipeline.clips) and the video benchmark's scoring."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from consentcam.pipeline.clips import (
    CROP_HEIGHT,
    Actor,
    ClipTruth,
    sample_clip,
    truth_path,
    write_clip,
)
from consentcam.pipeline.worker import TrackReport as Report
from consentcam.samples import sample_photo
from consentcam.vision.decode import load_image
from consentcam.vision.detect import hog_detections
from consentcam.vision.records import Box, ImageArray

REPO = Path(__file__).resolve().parents[2]
SIZE = (640, 360)


def portrait(name: str) -> ImageArray:
    """A bundled photo at 480 px high: plenty for 360p clips, and quicker to detect in."""
    image = load_image(sample_photo(name))
    width = round(image.shape[1] * 480 / image.shape[0])
    return np.ascontiguousarray(cv2.resize(image, (width, 480), interpolation=cv2.INTER_AREA))


@pytest.fixture(scope="module")
def obama() -> ImageArray:
    return portrait("obama.jpg")


@pytest.fixture(scope="module")
def biden() -> ImageArray:
    return portrait("biden.jpg")


def frames_of(path: Path) -> list[ImageArray]:
    cap = cv2.VideoCapture(str(path))
    frames: list[ImageArray] = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        # OpenCV types its images loosely; a decoded frame is 8-bit (asarray copies nothing).
        frames.append(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8))
    cap.release()
    return frames


def test_clip_has_its_frames_and_truth_moves_as_specified(
    obama: ImageArray, tmp_path: Path
) -> None:
    walk = Actor("obama", obama, 0, 20, ((0.3, 0.45), (0.7, 0.55)), (0.8, 0.8))
    truth = write_clip(tmp_path / "c.mp4", [walk], size=SIZE, fps=25.0, frames=20)

    assert truth.frames == 20 and truth.size == SIZE and truth.fps == 25.0
    assert len(frames_of(tmp_path / "c.mp4")) == 20
    assert all(len(faces) == 1 and faces[0][0] == "obama" for faces in truth.boxes)
    first, last = truth.boxes[0][0][1], truth.boxes[19][0][1]
    assert last.center[0] - first.center[0] == pytest.approx(0.4 * SIZE[0], abs=1.5)
    assert last.center[1] - first.center[1] == pytest.approx(0.1 * SIZE[1], abs=1.5)
    steps = np.diff([faces[0][1].center[0] for faces in truth.boxes])
    assert np.allclose(steps, 0.4 * SIZE[0] / 19, atol=1.5)  # linear
    # A face fills a fixed share of its crop, so its size follows the crop height.
    assert first.height == pytest.approx(0.8 * SIZE[1] / CROP_HEIGHT, rel=0.05)


def test_face_grows_with_the_crop_height(obama: ImageArray, tmp_path: Path) -> None:
    walk = Actor("obama", obama, 0, 5, ((0.5, 0.5), (0.5, 0.5)), (0.6, 0.9))
    truth = write_clip(tmp_path / "c.mp4", [walk], size=SIZE, frames=5)
    first, last = truth.boxes[0][0][1], truth.boxes[4][0][1]
    assert last.height / first.height == pytest.approx(0.9 / 0.6, rel=0.03)


def test_hog_finds_the_face_where_the_truth_says(obama: ImageArray, tmp_path: Path) -> None:
    walk = Actor("obama", obama, 0, 12, ((0.3, 0.5), (0.6, 0.5)), (0.8, 0.8))
    truth = write_clip(tmp_path / "c.mp4", [walk], size=SIZE, frames=12)
    frames = frames_of(tmp_path / "c.mp4")
    for index in (0, 6, 11):
        found = hog_detections(frames[index], 0)
        assert found, f"no face detected in frame {index}"
        expected = truth.boxes[index][0][1]
        assert max(d.box.iou(expected) for d in found) > 0.5


def test_hidden_and_offscreen_faces_are_not_in_the_truth(
    obama: ImageArray, biden: ImageArray, tmp_path: Path
) -> None:
    behind = Actor("obama", obama, 0, 4, ((0.5, 0.5), (0.5, 0.5)), (0.8, 0.8))
    front = Actor("biden", biden, 2, 4, ((0.5, 0.5), (0.5, 0.5)), (0.8, 0.8))
    leaving = Actor("leaving", obama, 0, 4, ((0.1, 0.5), (-0.3, 0.5)), (0.5, 0.5))
    truth = write_clip(tmp_path / "c.mp4", [behind, front, leaving], size=SIZE, frames=4)
    names = [[name for name, _ in faces] for faces in truth.boxes]
    assert names[0] == ["obama", "leaving"]
    assert names[3] == ["biden"]  # obama hidden behind biden; the third face left the frame
    assert truth.visible_frames() == {"obama": 2, "biden": 2, "leaving": 1}


def test_motion_blur_changes_pixels_not_truth(obama: ImageArray, tmp_path: Path) -> None:
    walk = Actor("obama", obama, 0, 3, ((0.2, 0.5), (0.8, 0.5)), (0.8, 0.8))
    sharp = write_clip(tmp_path / "a.mp4", [walk], size=SIZE, frames=3)
    blurred = write_clip(tmp_path / "b.mp4", [walk], size=SIZE, frames=3, motion_blur=True)
    assert sharp == blurred
    a, b = frames_of(tmp_path / "a.mp4")[1], frames_of(tmp_path / "b.mp4")[1]
    face = sharp.boxes[1][0][1]
    crop = (slice(face.top, face.bottom), slice(face.left, face.right))
    assert cv2.Laplacian(b[crop], cv2.CV_64F).var() < cv2.Laplacian(a[crop], cv2.CV_64F).var()


def test_truth_round_trips_through_json_beside_the_clip(obama: ImageArray, tmp_path: Path) -> None:
    walk = Actor("", obama, 1, 3, ((0.4, 0.5), (0.5, 0.5)), (0.7, 0.8))
    truth = write_clip(tmp_path / "c.mp4", [walk], size=SIZE, frames=4)
    assert truth.boxes[0] == () and truth.boxes[3] == ()
    assert ClipTruth.from_json(truth.to_json()) == truth
    assert ClipTruth.from_json(truth_path(tmp_path / "c.mp4").read_text()) == truth


def test_sample_scene_has_everyone_and_two_faces_at_once(
    obama: ImageArray, biden: ImageArray, tmp_path: Path
) -> None:
    truth = sample_clip(
        tmp_path / "s.mp4",
        {"obama": obama, "biden": biden},
        [obama],
        size=(320, 180),
        walk_frames=8,
        stride=5,
    )
    visible = truth.visible_frames()
    assert set(visible) == {"obama", "biden", "unknown-1"}
    assert max(len(faces) for faces in truth.boxes) >= 2
    assert truth.frames == 2 * 5 + 8


# -- the benchmark's scoring ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = REPO / "benchmarks" / "bench_video.py"
    spec = importlib.util.spec_from_file_location("bench_video", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


A, STRANGER, B = Box(10, 10, 60, 60), Box(200, 10, 250, 60), Box(100, 100, 150, 150)


def test_scoring_counts_identified_correct_and_wrong_frames(bench: ModuleType) -> None:
    truth = ClipTruth(
        (320, 180),
        30.0,
        (
            (("A", A), ("unknown-1", STRANGER)),
            (("A", A),),
            (("B", B),),
        ),
    )
    tracks = [
        Report(1, "m-a", ((0, Box(12, 11, 62, 61)), (1, A))),  # right twice
        Report(2, "m-a", ((0, STRANGER),)),  # a stranger called A
        Report(3, None, ((2, B),)),  # B not recognised
        Report(4, "m-b", ((2, Box(300, 150, 320, 170)),)),  # B, on no face at all
    ]
    faces = bench.track_attributions(tracks, {"m-a": "A", "m-b": "B"})
    result = bench.scored(faces, ["A", "B"], truth)
    assert result == {
        "identified_frames": {"A": 2, "B": 1},
        "truth_frames": {"A": 2, "B": 1},
        "correct_frames": {"A": 2, "B": 0},
        "wrong_frames": 1,
        "wrong_by_name": {"A": 1},
    }
    assert bench.scored(faces, ["A", "B"], None) == {"identified_frames": {"A": 2, "B": 1}}
    assert bench.scored([], [], None) == {"identified_frames": {}}


def test_faces_tracked_is_the_share_of_reference_faces_overlapped(bench: ModuleType) -> None:
    reference = [(0, None, A), (0, None, B), (1, "A", A), (2, None, B)]
    ours = [(0, "A", Box(12, 11, 62, 61)), (1, None, B), (2, None, B)]
    assert bench.faces_tracked(reference, ours) == 0.5
    assert bench.faces_tracked([], ours) is None
