"""Faces that stand in for the face model where a test is about something else."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from consentcam.vision.records import Box, Detection, Face, Landmarks, Quality


def fake_face(source: object, settings: object = None) -> Face:
    """Stands in for ``vision.faces.enrolment_face``: a good-quality face with a random
    embedding, so authorisation tests need no face model."""
    vector = np.random.default_rng().standard_normal(128).astype(np.float32)
    return Face(
        detection=Detection(Box(10, 10, 210, 210), 1.0, "fake"),
        landmarks=Landmarks(
            ((60.0, 80.0), (90.0, 80.0), (160.0, 80.0), (130.0, 80.0), (110.0, 140.0))
        ),
        quality=Quality(True, (), 200, 150.0, 0.0, 0.0, 120.0, 0.0),
        embedding=vector / np.linalg.norm(vector),
    )


@lru_cache(maxsize=1)
def photo_face(photo: Path) -> Face:
    """The face of an enrolment photo, found and embedded once per test session."""
    # Imported here: it brings in dlib and OpenCV, which tests that only fake faces never need.
    from consentcam.vision.faces import enrolment_face

    return enrolment_face(photo)
