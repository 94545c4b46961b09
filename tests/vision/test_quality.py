from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from consentcam.config import QualitySettings
from consentcam.vision.align import face_chip
from consentcam.vision.decode import load_image
from consentcam.vision.faces import image_faces
from consentcam.vision.quality import face_quality, roll_degrees, yaw_ratio
from consentcam.vision.records import Landmarks


def test_good_portrait_passes(photos: Path) -> None:
    (face,) = image_faces(load_image(photos / "obama.jpg"), embed=False)
    assert face.quality.ok, face.quality.reasons
    assert face.quality.face_px == 267


def test_small_face_is_rejected_with_a_reason(photos: Path) -> None:
    image = Image.fromarray(load_image(photos / "obama.jpg"))
    small = np.asarray(image.resize((image.width // 5, image.height // 5)))
    faces = image_faces(np.ascontiguousarray(small), embed=False)
    assert faces
    assert not faces[0].quality.ok
    assert any("too small" in r for r in faces[0].quality.reasons)


def test_blurred_photo_is_rejected(photos: Path) -> None:
    image = load_image(photos / "obama.jpg")
    blurred = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(12)))
    (face,) = image_faces(np.ascontiguousarray(blurred), embed=False)
    assert any("blurry" in r for r in face.quality.reasons)


def test_dark_photo_is_rejected(photos: Path) -> None:
    image = load_image(photos / "obama.jpg")
    (face,) = image_faces(image, embed=False)
    dark = (image * 0.12).astype(np.uint8)
    chip = face_chip(dark, face.detection.box, face.landmarks)
    quality = face_quality(face.detection.box, face.landmarks, chip, QualitySettings())
    assert any("too dark" in r for r in quality.reasons)


def test_pose_measures() -> None:
    frontal = Landmarks(((30, 40), (40, 40), (70, 40), (60, 40), (50, 60)))
    assert abs(roll_degrees(frontal)) < 1e-9
    assert abs(yaw_ratio(frontal)) < 1e-9
    tilted = Landmarks(((30, 40), (40, 40), (70, 70), (60, 70), (50, 60)))
    assert roll_degrees(tilted) > 30
    turned = Landmarks(((30, 40), (40, 40), (70, 40), (60, 40), (68, 60)))
    assert yaw_ratio(turned) > 0.5


def test_turned_head_reason(photos: Path) -> None:
    image = load_image(photos / "obama.jpg")
    (face,) = image_faces(image, embed=False)
    chip = face_chip(image, face.detection.box, face.landmarks)
    pts = list(face.landmarks.points)
    (lx, _), (rx, _) = face.landmarks.eyes
    pts[4] = (rx + (rx - lx) * 0.2, pts[4][1])  # nose beyond the right eye: a profile
    quality = face_quality(face.detection.box, Landmarks(tuple(pts)), chip)
    assert any("turned sideways" in r for r in quality.reasons)
