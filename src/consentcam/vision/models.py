"""Model files shipped by the pinned PyPI packages, loaded lazily and once per process.

Only the public-domain models are used: dlib's HOG detector, the MMOD CNN detector, the 5-point
landmark model and the ResNet face descriptor. The 68-point landmark model, which the same package
ships, is never loaded: its training data's licence excludes commercial use.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

from consentcam.errors import DependencyError

RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_5_FILE = "shape_predictor_5_face_landmarks.dat"
MMOD_FILE = "mmod_human_face_detector.dat"


def model_path(filename: str) -> Path:
    """Path of a model file inside the installed ``face_recognition_models`` package.

    Located without importing the package: its ``__init__`` imports ``pkg_resources``, which
    recent setuptools no longer provide.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(
            "the face_recognition_models package is not installed "
            "(pip install face_recognition_models==0.3.0)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / filename
    if not path.is_file():
        raise DependencyError(f"model file {filename} is missing from face_recognition_models")
    return path


def dlib_module() -> Any:
    try:
        import dlib
    except ImportError:  # pragma: no cover - dlib-bin is a hard dependency
        raise DependencyError(
            "dlib is not installed (pip install dlib-bin==20.0.1.post1)"
        ) from None
    return dlib


@cache
def hog_detector() -> Any:
    return dlib_module().get_frontal_face_detector()


@cache
def cnn_detector() -> Any:
    return dlib_module().cnn_face_detection_model_v1(str(model_path(MMOD_FILE)))


@cache
def shape_predictor() -> Any:
    return dlib_module().shape_predictor(str(model_path(SHAPE_5_FILE)))


@cache
def dlib_resnet() -> Any:
    return dlib_module().face_recognition_model_v1(str(model_path(RESNET_FILE)))
