from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from consentcam.config import EmbedSettings, VisionSettings
from consentcam.vision.align import face_chip, mirrored
from consentcam.vision.decode import load_image
from consentcam.vision.embed import (
    chip_embeddings,
    dlib_embeddings,
    fused_embeddings,
    numpy_embeddings,
)
from consentcam.vision.faces import detected_faces, image_faces


@pytest.fixture(scope="module")
def chips(photos: Path) -> np.ndarray:
    out = []
    for name in ("obama.jpg", "biden.jpg", "two_people.jpg"):
        image = load_image(photos / name)
        for face in image_faces(image, embed=False):
            out.append(face_chip(image, face.detection.box, face.landmarks))
    return np.stack(out)


def test_backends_agree(chips: np.ndarray) -> None:
    a = dlib_embeddings(chips)
    b = numpy_embeddings(chips)
    assert a.shape == b.shape == (len(chips), 128)
    assert np.abs(a - b).max() < 1e-4


def test_flip_averages_chip_and_mirror(chips: np.ndarray) -> None:
    plain = numpy_embeddings(chips)
    flipped = numpy_embeddings(mirrored(chips))
    both = chip_embeddings(chips, EmbedSettings(flip=True, normalize=False))
    assert np.allclose(both, (plain + flipped) / 2, atol=1e-5)
    assert np.allclose(
        chip_embeddings(chips, EmbedSettings(flip=False, normalize=False)), plain, atol=1e-6
    )


def test_normalized_fusion_gives_unit_vectors(chips: np.ndarray) -> None:
    unit = chip_embeddings(chips, EmbedSettings(flip=True, normalize=True))
    assert np.allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    views = np.stack([chips, chips], axis=1)  # two identical views fuse to the same vector
    assert np.allclose(fused_embeddings(views, EmbedSettings()), unit, atol=1e-5)


def test_batching_does_not_change_results(chips: np.ndarray) -> None:
    one = chip_embeddings(chips, EmbedSettings(batch_size=1, normalize=False))
    many = chip_embeddings(chips, EmbedSettings(batch_size=64, normalize=False))
    assert np.abs(one - many).max() < 1e-5


def test_empty_batch() -> None:
    empty = np.zeros((0, 150, 150, 3), np.uint8)
    assert chip_embeddings(empty).shape == (0, 128)
    assert dlib_embeddings(empty).shape == (0, 128)


def test_same_box_gives_the_anchors_embedding(photos: Path) -> None:
    """Identical face boxes give face_recognition's embedding (same dlib models, same alignment):
    exactly with the dlib backend, to float rounding with the numpy one."""
    fr = pytest.importorskip("face_recognition", reason="the anchor is installed by `make test`")
    image = load_image(photos / "two_people.jpg")
    anchor_boxes = fr.face_locations(image, number_of_times_to_upsample=1)
    anchor = np.array(fr.face_encodings(image, anchor_boxes, num_jitters=1, model="small"))
    by_box = {f.detection.box.as_css(): f.detection for f in image_faces(image, embed=False)}
    assert sorted(by_box) == sorted(anchor_boxes)
    detections = [by_box[b] for b in anchor_boxes]
    exact = detected_faces(
        image,
        detections,
        VisionSettings(embed=EmbedSettings(type="dlib", flip=False, normalize=False)),
    )
    fast = detected_faces(
        image,
        detections,
        VisionSettings(embed=EmbedSettings(type="numpy", flip=False, normalize=False)),
    )
    assert np.array_equal(np.stack([f.vector for f in exact]), anchor.astype(np.float32))
    assert np.abs(np.stack([f.vector for f in fast]) - anchor).max() < 1e-4
