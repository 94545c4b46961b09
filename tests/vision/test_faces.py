from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from consentcam.config import EmbedSettings, VisionSettings
from consentcam.match.scores import decide
from consentcam.model_card import model_card
from consentcam.vision.decode import load_image
from consentcam.vision.faces import FileResult, file_faces, files_faces, image_faces, main_face

RAW = VisionSettings(embed=EmbedSettings(flip=False, normalize=False))


def _embedding(photos: Path, name: str, settings: VisionSettings | None = None) -> np.ndarray:
    faces = file_faces(photos / name, settings)
    assert faces, name
    return faces[0].vector


@pytest.mark.parametrize("settings", [None, RAW], ids=["default", "raw-descriptor"])
def test_same_person_and_different_person_decisions(
    photos: Path, settings: VisionSettings | None
) -> None:
    # The model card's threshold belongs to the default embedding; dlib's raw descriptor has the
    # published rule of thumb: same person below 0.6, different people above.
    threshold = model_card().verification_threshold if settings is None else 0.6
    obama = [_embedding(photos, n, settings) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    biden = _embedding(photos, "biden.jpg", settings)
    for i in range(3):
        for j in range(i + 1, 3):
            d = float(np.linalg.norm(obama[i] - obama[j]))
            assert decide(d, threshold), (i, j, d)
        d = float(np.linalg.norm(obama[i] - biden))
        assert not decide(d, threshold), (i, d)


def test_embedding_off_gives_faces_without_vectors(photos: Path) -> None:
    (face,) = file_faces(photos / "obama.jpg", embed=False)
    assert face.embedding is None


def test_no_face_gives_empty_list() -> None:
    assert image_faces(np.full((120, 160, 3), 30, np.uint8)) == []


def test_main_face_is_the_central_one(photos: Path) -> None:
    image = load_image(photos / "two_people.jpg")
    faces = image_faces(image, embed=False)
    chosen = main_face(faces, image.shape)
    assert chosen is not None
    cx = image.shape[1] / 2
    assert all(
        abs(chosen.detection.box.center[0] - cx) <= abs(f.detection.box.center[0] - cx)
        for f in faces
    )
    assert main_face([], image.shape) is None


def test_batch_reports_bad_files_without_stopping(photos: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    sources = [str(photos / "obama.jpg"), str(bad), str(photos / "biden.jpg")]
    seen: list[FileResult] = []
    results = list(files_faces(sources, embed=False, workers=2, on_result=seen.append))
    assert [r.source for r in results] == sources
    assert results[1].error and "corrupt or truncated" in results[1].error
    assert len(results[0].faces) == 1 and len(results[2].faces) == 1
    assert results[0].error is None and len(seen) == 3
