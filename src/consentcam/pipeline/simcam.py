"""Simulated cameras: MJPEG over HTTP on 127.0.0.1, as IP cameras serve it, at a real frame rate.

For trying a deployment without hardware, load-testing ``consentcam run``
(``benchmarks/bench_soak.py``) and testing live sources. A simulated camera keeps time like a real
one: frame k is due k / fps seconds after the camera started, whoever is watching. A client that
reads slower than that is sent the frame due now, not the next one in line, and the frames it
missed are counted as skipped: a real camera's encoder does not wait for a slow viewer either, so
nothing queues up in the camera (what a slow client has not read yet waits in its own socket
buffer, bounded by the kernel).

Example, a door camera showing the bundled sample clip in a loop (then
``consentcam camera add main door --source URL --mode door --signage-attested``)::

    clip = door_clip(Path("door.mp4"))
    with SimulatedCamera(looped(clip_jpegs(Path("door.mp4"))), fps=15).running() as camera:
        print(camera.url)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2

from consentcam.errors import InputError
from consentcam.pipeline.clips import ClipTruth, sample_actors, write_clip
from consentcam.samples import PASSER_BY_PHOTO, WALKER_PHOTO, sample_photo
from consentcam.vision.decode import load_image

BOUNDARY = "consentcamframe"
STREAM_PATH = "/stream.mjpg"

# Frame k of the camera's timeline for connection number c (1 for the first client): JPEG bytes.
JpegFrames = Callable[[int, int], bytes]


@dataclass(frozen=True, slots=True)
class SimStats:
    """Counters of one simulated camera since it started, over all its connections.

    ``frames_sent``: frames written to clients. ``frames_skipped``: frames that fell due while a
    client was not reading (its socket full) or the camera's thread did not get the CPU, and were
    never sent to it; a real camera would not have sent them either.
    """

    connections: int
    frames_sent: int
    frames_skipped: int


class SimulatedCamera:
    """An MJPEG camera on 127.0.0.1 serving ``frames`` at ``fps``.

    Each connection gets ``per_connection`` frames (None: until the client leaves or the camera
    stops), then the camera closes it, as a camera that drops out does. ``port`` 0 picks a free
    port; ``url`` is the stream's address either way.
    """

    def __init__(
        self,
        frames: JpegFrames,
        fps: float,
        *,
        per_connection: int | None = None,
        port: int = 0,
    ) -> None:
        if not fps > 0:
            raise InputError(f"a simulated camera needs a frame rate above 0, not {fps}")
        self.fps = fps
        self.per_connection = per_connection
        self._frames = frames
        self._lock = threading.Lock()
        self._connections = self._sent = self._skipped = 0
        self._started = time.monotonic()
        self.stopped = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_class(self))
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{STREAM_PATH}"

    @contextmanager
    def running(self) -> Iterator[SimulatedCamera]:
        """Serve until the block ends; the camera's clock starts now."""
        thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"simcam-{self.port}", daemon=True
        )
        self._started = time.monotonic()
        thread.start()
        try:
            yield self
        finally:
            self.stopped.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            thread.join(5)

    def stats(self) -> SimStats:
        with self._lock:
            return SimStats(self._connections, self._sent, self._skipped)

    @property
    def connections(self) -> int:
        return self.stats().connections

    def serve_one(self, handler: BaseHTTPRequestHandler) -> None:
        """Stream to one client until it leaves, its frame allowance is spent or the camera
        stops."""
        with self._lock:
            self._connections += 1
            connection = self._connections
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        handler.send_header("Cache-Control", "no-cache")
        handler.end_headers()
        last: int | None = None
        sent = 0
        try:
            while not self.stopped.is_set() and (
                self.per_connection is None or sent < self.per_connection
            ):
                due = self._due()
                if last is not None and due <= last:
                    self.stopped.wait(max(0.0, self._due_at(last + 1) - time.monotonic()))
                    continue
                data = self._frames(due, connection)
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}"
                handler.wfile.write(head.encode() + b"\r\n\r\n" + data + b"\r\n")
                handler.wfile.flush()
                sent += 1
                with self._lock:
                    self._sent += 1
                    self._skipped += 0 if last is None else due - last - 1
                last = due
        except OSError:
            return  # the client went away

    def _due(self) -> int:
        return int((time.monotonic() - self._started) * self.fps)

    def _due_at(self, frame: int) -> float:
        return self._started + frame / self.fps


def _handler_class(camera: SimulatedCamera) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the stream ends when the connection closes

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per connection would drown the log of a long run

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != STREAM_PATH:
                self.send_error(404)
                return
            camera.serve_one(self)

    return Handler


def clip_jpegs(path: Path, quality: int = 85) -> list[bytes]:
    """Every frame of the video at ``path`` as JPEG bytes, encoded once so that serving costs
    no encoding."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    jpegs: list[bytes] = []
    try:
        while True:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            done, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if done:
                jpegs.append(jpeg.tobytes())
    finally:
        cap.release()
    if not jpegs:
        raise InputError(f"{path}: no decodable video frames to serve")
    return jpegs


def looped(jpegs: Sequence[bytes], offset: int = 0) -> JpegFrames:
    """Frames showing ``jpegs`` in a loop, frame k being ``jpegs[(k + offset) % len]``: cameras
    given different offsets show the same scene out of step, as real doors would."""
    if not jpegs:
        raise InputError("a looped camera needs at least one frame")
    frames = tuple(jpegs)
    return lambda k, _connection: frames[(k + offset) % len(frames)]


def door_clip(
    path: Path,
    *,
    size: tuple[int, int] = (640, 480),
    fps: float = 15.0,
    empty_s: float = 2.0,
    seed: int = 0,
) -> ClipTruth:
    """A door scene from the bundled public-domain photos, written to ``path`` (MP4, truth
    beside it): Barack Obama walks toward the camera in ``obama2.jpg`` (enrol him from
    ``obama.jpg`` to make him a member), then a passer-by in ``biden.jpg``, then the doorway
    stays empty for ``empty_s``; looped, the member comes back every ``frames / fps`` seconds."""
    actors = sample_actors(
        [("Barack Obama", load_image(sample_photo(WALKER_PHOTO)))],
        [load_image(sample_photo(PASSER_BY_PHOTO))],
    )
    frames = max(a.end for a in actors) + round(empty_s * fps)
    return write_clip(path, actors, size=size, fps=fps, frames=frames, seed=seed)
