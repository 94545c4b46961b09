from __future__ import annotations

from pathlib import Path

import numpy as np

from consentcam.config import DetectSettings
from consentcam.vision.decode import load_image
from consentcam.vision.detect import central_detection, downscaled, face_detections
from consentcam.vision.records import Box, Detection, ImageArray


def test_known_face_box_on_obama(photos: Path) -> None:
    (face,) = face_detections(load_image(photos / "obama.jpg"))
    # The published regression figure for dlib's HOG detector with upsample 1.
    assert face.box.as_css() == (142, 617, 409, 349)
    assert face.detector == "hog/up1"


def test_two_faces_largest_first(photos: Path) -> None:
    faces = face_detections(load_image(photos / "two_people.jpg"))
    assert len(faces) == 2
    assert faces[0].box.area >= faces[1].box.area
    assert faces[0].box.iou(faces[1].box) == 0.0


def test_blank_image_has_no_face() -> None:
    assert face_detections(np.full((200, 300, 3), 128, np.uint8)) == []


def test_downscaled_detection_maps_boxes_back(photos: Path) -> None:
    image = load_image(photos / "obama-1080p.jpg")
    full = face_detections(image, DetectSettings(max_side=0))
    small = face_detections(image, DetectSettings(max_side=960))
    assert len(full) == len(small) == 1
    # HOG boxes are quantised to its pyramid steps, so scales differ by some pixels.
    assert small[0].box.iou(full[0].box) > 0.7


def test_downscaled_keeps_small_images_untouched() -> None:
    image = np.zeros((100, 50, 3), np.uint8)
    same, factor = downscaled(image, 1280)
    assert same is image and factor == 1.0
    small, factor = downscaled(np.zeros((2000, 1000, 3), np.uint8), 1000)
    assert small.shape == (1000, 500, 3) and factor == 0.5


def test_retry_with_more_upsampling_only_when_nothing_found() -> None:
    calls: list[int] = []

    def fake(image: ImageArray, upsample: int) -> list[Detection]:
        calls.append(upsample)
        return [Detection(Box(1, 1, 9, 9), 1.0, f"fake/up{upsample}")] if upsample == 2 else []

    image = np.zeros((10, 10, 3), np.uint8)
    found = face_detections(image, DetectSettings(upsample=1, retry_upsample=2), detector=fake)
    assert calls == [1, 2] and found[0].detector == "fake/up2"
    calls.clear()
    assert face_detections(image, DetectSettings(upsample=1), retry=False, detector=fake) == []
    assert calls == [1]


def test_boxes_are_clipped_to_the_image(photos: Path) -> None:
    image = load_image(photos / "obama_partial_face.jpg")
    for d in face_detections(image):
        assert 0 <= d.box.left < d.box.right <= image.shape[1]
        assert 0 <= d.box.top < d.box.bottom <= image.shape[0]


def test_central_detection_picks_nearest_to_centre() -> None:
    near = Detection(Box(40, 40, 60, 60), 0.1, "x")
    far = Detection(Box(0, 0, 30, 30), 2.0, "x")
    assert central_detection([far, near], (100, 100, 3)) is near
    assert central_detection([], (100, 100, 3)) is None
