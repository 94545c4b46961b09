"""Where the worker looks for faces: the whole frame scaled down, or only the regions around
the boxes its tracks predict (between full scans). Boxes come back in frame pixels, clipped to
the frame."""

from __future__ import annotations

import cv2
import numpy as np

from consentcam.vision.detect import Detector
from consentcam.vision.records import Box, ImageArray

# ROI search between full scans: the region around a predicted box, and the face width the crop
# is scaled to (HOG finds faces from about 80 px).
ROI_MARGIN = 0.5
ROI_FACE_PX = 90.0


def scaled_detections(
    image: ImageArray, detector: Detector, scale: float, upsample: int
) -> list[Box]:
    """Face boxes, in frame pixels, found on the frame resized by ``scale``."""
    height, width = image.shape[:2]
    small = image
    if scale != 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(
            cv2.resize(
                image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            ),
            dtype=np.uint8,
        )
    return [_clip(d.box.scaled(1 / scale), width, height) for d in detector(small, upsample)]


def roi_detections(image: ImageArray, detector: Detector, around: list[Box]) -> list[Box]:
    """Face boxes found near where tracks are expected: each region is cropped and scaled so
    the face is about ROI_FACE_PX wide, which costs a fraction of a full-frame scan."""
    height, width = image.shape[:2]
    found: list[Box] = []
    for box in around:
        margin = ROI_MARGIN * max(box.width, box.height)
        region = _clip(
            Box(
                round(box.left - margin),
                round(box.top - margin),
                round(box.right + margin),
                round(box.bottom + margin),
            ),
            width,
            height,
        )
        if region.width < 8 or region.height < 8:
            continue
        crop = image[region.top : region.bottom, region.left : region.right]
        scale = min(max(ROI_FACE_PX / max(box.width, 1), 0.25), 2.0)
        for b in scaled_detections(np.ascontiguousarray(crop), detector, scale, 0):
            moved = Box(
                b.left + region.left,
                b.top + region.top,
                b.right + region.left,
                b.bottom + region.top,
            )
            if all(moved.iou(f) < 0.5 for f in found):
                found.append(moved)
    return found


def _clip(box: Box, width: int, height: int) -> Box:
    return Box(
        max(0, min(box.left, width)),
        max(0, min(box.top, height)),
        max(0, min(box.right, width)),
        max(0, min(box.bottom, height)),
    )
