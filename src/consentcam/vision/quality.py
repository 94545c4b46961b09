"""Quality assessment of a detected face: every failed check comes back as a readable reason.

The checks gate enrolment (a poor template raises false non-matches for the member for as long as
it is kept) and tell the kiosk user what to fix.
"""

from __future__ import annotations

import math

import numpy as np

from consentcam.config import QualitySettings
from consentcam.vision.records import Box, ImageArray, Landmarks, Quality

# Weights of ITU-R BT.601 luma, the usual grey conversion.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def face_quality(
    box: Box, landmarks: Landmarks, chip: ImageArray, settings: QualitySettings | None = None
) -> Quality:
    settings = settings or QualitySettings()
    grey = chip.astype(np.float32) @ _LUMA
    face_px = min(box.width, box.height)
    sharpness = laplacian_variance(grey)
    roll = roll_degrees(landmarks)
    yaw = yaw_ratio(landmarks)
    brightness = float(grey.mean())
    clipped = float(np.mean((grey <= 2) | (grey >= 253)))
    reasons: list[str] = []
    if face_px < settings.min_face_px:
        reasons.append(
            f"face too small: {face_px} px across, at least {settings.min_face_px} px needed "
            "(move closer)"
        )
    if sharpness < settings.min_sharpness:
        reasons.append(
            f"image too blurry: sharpness {sharpness:.0f}, at least "
            f"{settings.min_sharpness:.0f} needed (hold still, focus)"
        )
    if abs(roll) > settings.max_roll_deg:
        reasons.append(
            f"head tilted {abs(roll):.0f} degrees, at most "
            f"{settings.max_roll_deg:.0f} allowed (hold your head straight)"
        )
    if abs(yaw) > settings.max_yaw:
        reasons.append(
            f"head turned sideways ({abs(yaw):.2f}, at most {settings.max_yaw:.2f}) "
            "(look at the camera)"
        )
    if brightness < settings.min_brightness:
        reasons.append(
            f"face too dark: brightness {brightness:.0f}, at least "
            f"{settings.min_brightness:.0f} needed (add light)"
        )
    if brightness > settings.max_brightness:
        reasons.append(
            f"face overexposed: brightness {brightness:.0f}, at most "
            f"{settings.max_brightness:.0f} allowed (less light or no flash)"
        )
    if clipped > settings.max_clipped:
        reasons.append(
            f"{clipped:.0%} of the face is pure black or white, at most "
            f"{settings.max_clipped:.0%} allowed (even the lighting)"
        )
    return Quality(
        ok=not reasons,
        reasons=tuple(reasons),
        face_px=face_px,
        sharpness=sharpness,
        roll_deg=roll,
        yaw=yaw,
        brightness=brightness,
        clipped=clipped,
    )


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: a standard focus measure (low means blurry)."""
    g = grey.astype(np.float32)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var())


def roll_degrees(landmarks: Landmarks) -> float:
    """In-plane rotation: the angle of the line through the eye centres."""
    (lx, ly), (rx, ry) = landmarks.eyes
    return math.degrees(math.atan2(ry - ly, rx - lx))


def yaw_ratio(landmarks: Landmarks) -> float:
    """Left/right turn: the nose's offset from the eye midpoint along the eye line, divided by the
    distance between the eyes (0 for a frontal face, about +-0.5 in half profile)."""
    (lx, ly), (rx, ry) = landmarks.eyes
    nx, ny = landmarks.nose
    ex, ey = rx - lx, ry - ly
    dist = math.hypot(ex, ey)
    if dist == 0:
        return 1.0
    mx, my = (lx + rx) / 2, (ly + ry) / 2
    return ((nx - mx) * ex + (ny - my) * ey) / (dist * dist)
