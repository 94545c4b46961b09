"""Face detection: dlib HOG by default, dlib's MMOD CNN as an option.

Large images are downscaled for detection only (``max_side``), then boxes are mapped back, so the
detector's cost is bounded while landmarks and embeddings keep full resolution. Boxes are clipped
to the image the way face_recognition clips them, so the same box gives the same embedding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
from PIL import Image

from consentcam.config import DetectSettings
from consentcam.vision import models
from consentcam.vision.records import Box, Detection, ImageArray


class Detector(Protocol):
    def __call__(self, image: ImageArray, upsample: int) -> list[Detection]: ...


def hog_detections(image: ImageArray, upsample: int) -> list[Detection]:
    rects, scores, _ = models.hog_detector().run(image, upsample, 0.0)
    return [
        Detection(_clipped_box(r, image.shape), float(s), f"hog/up{upsample}")
        for r, s in zip(rects, scores, strict=True)
    ]


def cnn_detections(image: ImageArray, upsample: int) -> list[Detection]:
    found = models.cnn_detector()(image, upsample)
    return [
        Detection(_clipped_box(d.rect, image.shape), float(d.confidence), f"cnn/up{upsample}")
        for d in found
    ]


DETECTORS: dict[str, Detector] = {"hog": hog_detections, "cnn": cnn_detections}
# What each detector loads on first use, for callers that load up front (a camera worker loads
# before it opens its stream).
DETECTOR_MODELS: dict[str, Callable[[], object]] = {
    "hog": models.hog_detector,
    "cnn": models.cnn_detector,
}


def face_detections(
    image: ImageArray,
    settings: DetectSettings | None = None,
    *,
    retry: bool = True,
    detector: Detector | None = None,
) -> list[Detection]:
    """All faces in ``image``, largest first.

    With ``retry`` (still photos), an image where no face is found is searched once more with
    ``settings.retry_upsample``; video pipelines pass ``retry=False`` to keep frame cost flat.
    """
    settings = settings or DetectSettings()
    detect = detector or DETECTORS[settings.type]
    small, factor = downscaled(image, settings.max_side)
    found = detect(small, settings.upsample)
    if not found and retry and settings.retry_upsample > settings.upsample:
        found = detect(small, settings.retry_upsample)
    if factor != 1.0:
        found = [
            Detection(_clip(d.box.scaled(1 / factor), image.shape), d.score, d.detector)
            for d in found
        ]
    return sorted(found, key=lambda d: d.box.area, reverse=True)


def downscaled(image: ImageArray, max_side: int) -> tuple[ImageArray, float]:
    """``image`` shrunk so its longest side is at most ``max_side``, and the factor applied."""
    height, width = image.shape[:2]
    longest = max(height, width)
    if max_side <= 0 or longest <= max_side:
        return image, 1.0
    factor = max_side / longest
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = Image.fromarray(image).resize(size, Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(small)), factor


def central_detection(detections: list[Detection], shape: tuple[int, ...]) -> Detection | None:
    """The detection whose centre is nearest the image centre (the subject of a portrait)."""
    if not detections:
        return None
    return min(detections, key=lambda d: centre_offset(d.box, shape))


def centre_offset(box: Box, shape: tuple[int, ...]) -> float:
    """Distance in pixels from the box's centre to the image's centre."""
    cx, cy = box.center
    return float(((cx - shape[1] / 2) ** 2 + (cy - shape[0] / 2) ** 2) ** 0.5)


def _clipped_box(rect: object, shape: tuple[int, ...]) -> Box:
    box = Box(rect.left(), rect.top(), rect.right(), rect.bottom())  # type: ignore[attr-defined]
    return _clip(box, shape)


def _clip(box: Box, shape: tuple[int, ...]) -> Box:
    height, width = shape[0], shape[1]
    return Box(max(box.left, 0), max(box.top, 0), min(box.right, width), min(box.bottom, height))
