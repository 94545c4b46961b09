"""Test media for camera sources: numbered frames, a small video clip and a local MJPEG server.

Frames carry their number as eight black/white stripes (one bit each, most significant first) in
the top half and the server connection that sent them as a grey level in the bottom half: flat
areas that survive JPEG and MPEG-4 compression, so tests can read both back from decoded pixels.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

WIDTH, HEIGHT = 160, 120
_BITS = 8
_STRIPE = WIDTH // _BITS
_CONN_STEP = 60
BOUNDARY = "consentcamframe"

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


class MjpegServer:
    """MJPEG over HTTP (multipart/x-mixed-replace), as IP cameras serve it, on 127.0.0.1.

    Each connection gets ``per_connection`` frames (None: until the client leaves or the server
    stops), ``interval_s`` apart, then the server closes it, as a camera that drops out does.
    """

    def __init__(self, per_connection: int | None, interval_s: float) -> None:
        self.per_connection = per_connection
        self.interval_s = interval_s
        self.connections = 0
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/stream.mjpg"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.serve_one(self)

        return Handler

    def serve_one(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.connections += 1
            connection = self.connections
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        handler.end_headers()
        n = 0
        try:
            while self.per_connection is None or n < self.per_connection:
                ok, jpeg = cv2.imencode(".jpg", numbered_frame(n, connection))
                assert ok
                data = jpeg.tobytes()
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}"
                handler.wfile.write(head.encode() + b"\r\n\r\n" + data + b"\r\n")
                handler.wfile.flush()
                n += 1
                if self.stopped.wait(self.interval_s):
                    return
        except OSError:
            return  # the client went away

    @contextmanager
    def running(self) -> Iterator[MjpegServer]:
        thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.stopped.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            thread.join(5)
