"""5-point landmarks and aligned face chips (150x150, dlib's alignment for its ResNet)."""

from __future__ import annotations

from typing import Any

import numpy as np

from consentcam.vision import models
from consentcam.vision.records import Box, ImageArray, Landmarks

CHIP_SIZE = 150
# dlib's ResNet was trained on chips with this border around the landmarks; changing it changes
# the embedding and invalidates the model card's thresholds.
CHIP_PADDING = 0.25
# Pictures for staff (a member's reference portrait, a door snapshot): the aligned face with a
# wider border than the ResNet's, so a person can judge hair line and jaw too; both framed alike.
PICTURE_PADDING = 0.5
PICTURE_QUALITY = 85


def face_landmarks(image: ImageArray, box: Box) -> Landmarks:
    dlib = models.dlib_module()
    rect = dlib.rectangle(box.left, box.top, box.right, box.bottom)
    shape = models.shape_predictor()(image, rect)
    return Landmarks(tuple((float(p.x), float(p.y)) for p in shape.parts()))


def face_chip(
    image: ImageArray, box: Box, landmarks: Landmarks, padding: float = CHIP_PADDING
) -> ImageArray:
    """The aligned 150x150 RGB chip the ResNet expects."""
    chip: ImageArray = np.asarray(
        models.dlib_module().get_face_chip(image, _shape(box, landmarks), CHIP_SIZE, padding)
    )
    return chip


def face_picture(image: ImageArray, box: Box, landmarks: Landmarks) -> ImageArray:
    """The aligned 150x150 picture of a face that staff are shown (``PICTURE_PADDING``)."""
    return face_chip(image, box, landmarks, PICTURE_PADDING)


def picture_jpeg(picture: ImageArray) -> bytes:
    """A face picture as JPEG bytes, for sealing (never written anywhere in clear)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture, dtype=np.uint8)).save(
        out, "JPEG", quality=PICTURE_QUALITY
    )
    return out.getvalue()


def mirrored(chips: ImageArray) -> ImageArray:
    """Chips flipped left-right (batch axis first)."""
    return np.ascontiguousarray(chips[:, :, ::-1])


def _shape(box: Box, landmarks: Landmarks) -> Any:
    dlib = models.dlib_module()
    rect = dlib.rectangle(box.left, box.top, box.right, box.bottom)
    points = dlib.points([dlib.point(round(x), round(y)) for x, y in landmarks.points])
    return dlib.full_object_detection(rect, points)
