"""The numpy ResNet must reproduce dlib's own face descriptors.

dlib's ``compute_face_descriptor`` is the reference: the numpy port reads the
same weight file, so on the same chip the two must agree to float32 rounding.
"""

from __future__ import annotations

from pathlib import Path

import dlib
import face_recognition_models
import numpy as np
import pytest

from consentcam.vision.resnet import ResNetWeights, embed_chips, load_resnet

DATA_DIR = Path(__file__).parents[3] / "shared" / "data" / "public-domain"
MODEL_PATH = Path(face_recognition_models.face_recognition_model_location())
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def weights() -> ResNetWeights:
    return load_resnet(MODEL_PATH)


@pytest.fixture(scope="module")
def dlib_model() -> dlib.face_recognition_model_v1:
    return dlib.face_recognition_model_v1(str(MODEL_PATH))


@pytest.fixture(scope="module")
def face_chips() -> dict[str, np.ndarray]:
    """One 150x150 aligned chip per photo, built exactly as production does."""
    detector = dlib.get_frontal_face_detector()
    # The 5-point predictor is what get_face_chip is meant to be fed with.
    predictor = dlib.shape_predictor(
        face_recognition_models.pose_predictor_five_point_model_location()
    )
    chips: dict[str, np.ndarray] = {}
    for name in ("obama.jpg", "biden.jpg"):
        image = dlib.load_rgb_image(str(DATA_DIR / name))
        detections = detector(image, 0)
        assert len(detections) == 1, f"expected exactly one face in {name}"
        shape = predictor(image, detections[0])
        chips[name] = dlib.get_face_chip(image, shape, 150, 0.25)
    chips["obama.jpg mirrored"] = np.ascontiguousarray(chips["obama.jpg"][:, ::-1])
    chips["random noise"] = np.random.default_rng(20240601).integers(
        0, 256, (150, 150, 3), dtype=np.uint8
    )
    return chips


def test_weights_are_parsed(weights: ResNetWeights) -> None:
    np.testing.assert_allclose(weights.channel_means, [122.782, 117.001, 104.298], rtol=1e-6)
    assert weights.input_size == 150
    assert len(weights.blocks) == 14
    assert weights.fc.shape == (256, 128)
    assert weights.distance_threshold == pytest.approx(0.6)


def test_matches_dlib_descriptors(
    weights: ResNetWeights,
    dlib_model: dlib.face_recognition_model_v1,
    face_chips: dict[str, np.ndarray],
) -> None:
    names = list(face_chips)
    batch = np.stack([face_chips[n] for n in names])
    ours = embed_chips(weights, batch)
    assert ours.shape == (len(names), 128)
    assert ours.dtype == np.float32
    for name, descriptor in zip(names, ours, strict=True):
        reference = np.asarray(dlib_model.compute_face_descriptor(face_chips[name]))
        diff = float(np.abs(descriptor - reference).max())
        assert diff < TOLERANCE, f"{name}: max abs difference {diff:.3g} vs dlib"


def test_batching_does_not_change_results(
    weights: ResNetWeights, face_chips: dict[str, np.ndarray]
) -> None:
    batch = np.stack(list(face_chips.values()))
    together = embed_chips(weights, batch, batch_size=len(batch))
    one_by_one = embed_chips(weights, batch, batch_size=1)
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)


def test_different_faces_are_far_apart(
    weights: ResNetWeights, face_chips: dict[str, np.ndarray]
) -> None:
    obama, obama_mirrored, biden = embed_chips(
        weights,
        np.stack(
            [face_chips["obama.jpg"], face_chips["obama.jpg mirrored"], face_chips["biden.jpg"]]
        ),
    )
    assert np.linalg.norm(obama - obama_mirrored) < weights.distance_threshold
    assert np.linalg.norm(obama - biden) > weights.distance_threshold


def test_empty_batch(weights: ResNetWeights) -> None:
    out = embed_chips(weights, np.zeros((0, 150, 150, 3), dtype=np.uint8))
    assert out.shape == (0, 128)
    assert out.dtype == np.float32


def test_rejects_wrong_chip_shape(weights: ResNetWeights) -> None:
    with pytest.raises(ValueError, match="shape"):
        embed_chips(weights, np.zeros((1, 100, 100, 3), dtype=np.uint8))


@pytest.mark.parametrize("keep_fraction", [0.0001, 0.5, 0.999999])
def test_truncated_file_raises(tmp_path: Path, keep_fraction: float) -> None:
    data = MODEL_PATH.read_bytes()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[: int(len(data) * keep_fraction)])
    with pytest.raises(ValueError, match="truncated"):
        load_resnet(truncated)


def test_wrong_version_string_raises(tmp_path: Path) -> None:
    data = MODEL_PATH.read_bytes()
    assert data.count(b"input_rgb_image_sized") == 1
    corrupted = tmp_path / "corrupted.dat"
    corrupted.write_bytes(data.replace(b"input_rgb_image_sized", b"input_rgb_image_sizeX"))
    with pytest.raises(ValueError, match="input_rgb_image_sizeX"):
        load_resnet(corrupted)
