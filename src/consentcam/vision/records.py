"""Frozen records passed between vision stages.

Box order is defined here, once: ``left, top, right, bottom`` in pixels of the original image, as
dlib reports rectangles (so boxes match dlib's and face_recognition's to the pixel). ``as_css()``
gives face_recognition's (top, right, bottom, left) for comparison with published figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)

    def scaled(self, factor: float) -> Box:
        return Box(
            round(self.left * factor),
            round(self.top * factor),
            round(self.right * factor),
            round(self.bottom * factor),
        )

    def iou(self, other: Box) -> float:
        inter = Box(
            max(self.left, other.left),
            max(self.top, other.top),
            min(self.right, other.right),
            min(self.bottom, other.bottom),
        )
        if inter.width <= 0 or inter.height <= 0:
            return 0.0
        union = self.area + other.area - inter.area
        return inter.area / union if union else 0.0

    def as_css(self) -> tuple[int, int, int, int]:
        """(top, right, bottom, left), the order face_recognition and dlib's docs use."""
        return (self.top, self.right, self.bottom, self.left)

    def as_dict(self) -> dict[str, int]:
        return {"left": self.left, "top": self.top, "right": self.right, "bottom": self.bottom}


@dataclass(frozen=True, slots=True)
class Detection:
    box: Box
    score: float
    detector: str  # which detector and pass found it, e.g. "hog/up1", "hog/up2", "cnn/up1"


@dataclass(frozen=True, slots=True)
class Landmarks:
    """dlib's 5-point landmarks: two corners of each eye and the base of the nose."""

    points: tuple[tuple[float, float], ...]

    @property
    def eyes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Centres of the eye in the image's left half and the one in its right half."""
        a = _mean(self.points[0], self.points[1])
        b = _mean(self.points[2], self.points[3])
        return (a, b) if a[0] <= b[0] else (b, a)

    @property
    def nose(self) -> tuple[float, float]:
        return self.points[4]


@dataclass(frozen=True, slots=True)
class Quality:
    ok: bool
    reasons: tuple[str, ...]
    face_px: int
    sharpness: float
    roll_deg: float
    yaw: float
    brightness: float
    clipped: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reasons": list(self.reasons),
            "face_px": self.face_px,
            "sharpness": round(self.sharpness, 1),
            "roll_deg": round(self.roll_deg, 1),
            "yaw": round(self.yaw, 3),
            "brightness": round(self.brightness, 1),
            "clipped": round(self.clipped, 3),
        }


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face: where it is, how usable it is, and (when asked for) its embedding.

    The embedding is biometric data: it lives in memory only, and only the store (with consent)
    may persist it.
    """

    detection: Detection
    landmarks: Landmarks
    quality: Quality
    embedding: FloatArray | None = field(default=None, repr=False, compare=False)

    @property
    def vector(self) -> FloatArray:
        """The embedding, for callers that asked for one."""
        if self.embedding is None:
            raise ValueError("this face was detected without computing its embedding")
        return self.embedding


def _mean(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
