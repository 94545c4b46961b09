"""Test media for camera sources: numbered frames, a small video clip and a local MJPEG server
(a ``consentcam.pipeline.simcam`` camera showing numbered frames).

Frames carry their number as eight black/white stripes (one bit each, most significant first) in
the top half and the server connection that sent them as a grey level in the bottom half: flat
areas that survive JPEG and MPEG-4 compression, so tests can read both back from decoded pixels.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from consentcam.pipeline.simcam import SimulatedCamera

WIDTH, HEIGHT = 160, 120
_BITS = 8
_STRIPE = WIDTH // _BITS
_CONN_STEP = 60

Image = npt.NDArray[np.uint8]


def numbered_frame(number: int, connection: int = 0) -> Image:
    """A BGR frame showing ``number`` (mod 256) as stripes and ``connection`` as a grey level."""
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for bit in range(_BITS):
        if number >> (_BITS - 1 - bit) & 1:
            img[: HEIGHT // 2, bit * _STRIPE : (bit + 1) * _STRIPE] = 255
    img[HEIGHT // 2 :] = min(connection * _CONN_STEP, 255)
    return img


def frame_number(image: Image) -> int:
    """The number ``numbered_frame`` drew (channel order does not matter: stripes are grey)."""
    row = image[HEIGHT // 4]
    bits = [int(row[bit * _STRIPE + _STRIPE // 2].mean() > 127) for bit in range(_BITS)]
    return int("".join(map(str, bits)), 2)


def frame_connection(image: Image) -> int:
    return round(float(image[3 * HEIGHT // 4, WIDTH // 2].mean()) / _CONN_STEP)


def write_clip(path: Path, count: int, fps: float, *, red_last: bool = False) -> Path:
    """An MPEG-4 clip of ``count`` numbered frames, then one pure red frame if ``red_last``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for n in range(count):
        writer.write(numbered_frame(n))
    if red_last:
        red = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        red[:, :, 2] = 255  # OpenCV writes BGR: channel 2 is red
        writer.write(red)
    writer.release()
    return path


class MjpegServer(SimulatedCamera):
    """A simulated camera of numbered frames, one every ``interval_s``; each connection gets
    ``per_connection`` frames (None: until the client leaves or the server stops), then the
    server closes it, as a camera that drops out does."""

    def __init__(self, per_connection: int | None, interval_s: float) -> None:
        super().__init__(_numbered_jpeg, 1.0 / interval_s, per_connection=per_connection)


def _numbered_jpeg(number: int, connection: int) -> bytes:
    ok, jpeg = cv2.imencode(".jpg", numbered_frame(number, connection))
    assert ok
    return jpeg.tobytes()
