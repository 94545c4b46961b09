"""Camera sources: video files, image folders, network streams and webcams as one frame iterator.

``open_source(uri, camera)`` opens eagerly, so a bad source fails with a ``SourceError`` naming the
camera before any worker starts. Files and folders are read in step with the consumer and end at
their end. Live sources (streams, webcams) are read by a background thread into a one-slot buffer
holding only the latest frame: a consumer slower than the camera skips frames (counted in
``frames_dropped``) instead of falling ever further behind real time; frames the reader itself
never reads, when it falls behind the stream, are not counted (see ``SourceStats``). A live
source that ends, errors or stalls is reopened with exponential backoff until ``close()``.

Every open, and every reconnection, applies the camera source rule again
(``consent/camera_sources.py``): a stream's host name is resolved then, every address must be in
the camera networks, and FFmpeg is given the address that was checked; a path is opened by its
absolute, resolved name (never a pseudo-file, never read as an FFmpeg protocol).

Frame contents never reach the log; messages name the camera, the source (as
``scheme://host[:port]/…``) and the reason only.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

import numpy as np

from consentcam.config import DecodeSettings, SourceSettings
from consentcam.consent.camera_sources import (
    WEBCAM,
    SourcePolicy,
    check_local_path,
    checked_stream_url,
    source_policy,
)
from consentcam.errors import ConsentcamError, InputError, NotFound, SourceError
from consentcam.net import Resolver, redacted_url, resolved_addresses
from consentcam.vision.decode import load_image
from consentcam.vision.records import ImageArray

if TYPE_CHECKING:
    # OpenCV is imported where it is used: importing consentcam stays light.
    import cv2

_log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_DIGITS = re.compile(r"(\d+)")
# A reader blocked inside OpenCV cannot be interrupted; it notices close() when its read returns
# (at most read_timeout_s later). close() waits this long for it, then lets the daemon thread
# finish on its own, so shutting down a worker is never held up by a stalled camera.
_CLOSE_WAIT_S = 2.0


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame.

    ``index`` is the frame's position in the source; for live sources it counts dropped frames
    too, so a gap in indices is a gap in what the worker saw. ``at_s`` is seconds since the source
    opened (files and folders: presentation time, index / fps). ``captured_at`` is the aware UTC
    wall-clock time the frame was read. ``image`` is RGB uint8 HxWx3, C-contiguous.
    """

    index: int
    at_s: float
    captured_at: dt.datetime
    image: ImageArray


@dataclass(frozen=True, slots=True)
class SourceStats:
    """Counters of one source since it opened.

    ``frames_read``: frames decoded from the source, delivered or not. ``frames_dropped``: frames
    the consumer never got (live: overwritten by a newer frame; folder: unreadable images).
    ``reconnects``: successful reopenings of a live source after it failed. ``queue_depth``:
    frames waiting for the consumer (0 or 1: live sources keep only the latest). For a live
    source, frames_read = frames delivered + frames_dropped + queue_depth.

    Not counted anywhere: frames the camera sent that were never decoded, because the reader
    thread itself fell behind the stream (the camera or the network skips them) or the source
    was reconnecting. An MJPEG stream carries no frame numbers or capture times to count them
    by (FFmpeg numbers frames as they arrive), so such a gap is invisible here.
    """

    frames_read: int
    frames_dropped: int
    reconnects: int
    queue_depth: int
    # The source's latest trouble in words (addresses redacted), for the camera's health.
    last_error: str | None = None


class Source(Protocol):
    camera: str
    fps: float | None
    live: bool

    def frames(self) -> Iterator[Frame]:
        """Frames in order; files and folders end at their end, live sources at ``close()``."""
        ...

    def stats(self) -> SourceStats: ...

    def close(self) -> None: ...


def open_source(
    uri: str,
    camera: str,
    settings: SourceSettings | None = None,
    *,
    policy: SourcePolicy | None = None,
    resolve: Resolver = resolved_addresses,
) -> Source:
    """Open ``uri`` for ``camera``; raise ``SourceError`` naming the camera if it cannot be read,
    ``PolicyError`` if the camera source rule refuses it.

    Accepted: a video file path or ``file://`` URI, a folder of JPEG/PNG/WebP images, an
    ``rtsp://``, ``rtsps://``, ``http://`` or ``https://`` stream, and a webcam as ``device:N``,
    ``/dev/videoN`` or ``N``. Live sources must open now; only later failures are retried.
    ``policy``: the store's rule (``ledger.camera_source_policy``); left out, the production
    rule of ``settings`` (no development loopback). ``resolve`` looks up stream host names.
    """
    settings = settings or SourceSettings()
    policy = policy or source_policy(settings, dev=False)
    uri = uri.strip()
    if not uri:
        raise SourceError(f"camera {camera!r}: empty source")
    scheme = _SCHEME.match(uri)
    if scheme:
        name = scheme.group(1).lower()
        if name == "file":
            return _open_path(_file_uri_path(uri, camera), camera, settings)
        if name in STREAM_SCHEMES:
            opener = _stream_opener(uri, camera, settings, policy, resolve)
            return LiveSource(camera, redacted_url(uri), opener, settings)
        raise SourceError(
            f"camera {camera!r}: unsupported source scheme {name[:20]!r} in {redacted_url(uri)!r} "
            "(use a file or folder path, file://, rtsp://, rtsps://, http://, https:// or device:N)"
        )
    webcam = WEBCAM.match(uri)
    if webcam:
        index = int(webcam.group(1))
        return LiveSource(camera, f"device:{index}", _webcam_opener(index, settings), settings)
    return _open_path(Path(uri), camera, settings)


def _file_uri_path(uri: str, camera: str) -> Path:
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise SourceError(f"camera {camera!r}: file URI {uri!r} names a remote host")
    return Path(unquote(parts.path))


def _open_path(given: Path, camera: str, settings: SourceSettings) -> Source:
    # Opened by its absolute, resolved name: never a pseudo-file, and FFmpeg never reads a
    # prefix of it ("concat:", "pipe:") as a protocol.
    try:
        path = Path(check_local_path(str(given), f"camera {camera!r}"))
    except InputError as exc:  # a protocol prefix: this source cannot be opened
        raise SourceError(str(exc)) from None
    try:
        if path.is_dir():
            return FolderSource(camera, path, settings.folder_fps)
        if not path.exists():
            raise SourceError(f"camera {camera!r}: cannot open video file '{given}': no such file")
    except OSError as exc:  # a name too long, a folder that cannot be listed
        raise SourceError(f"camera {camera!r}: cannot open '{given}': {exc.strerror}") from None
    if not path.is_file():
        raise SourceError(f"camera {camera!r}: cannot open video file '{given}': not a file")
    return FileSource(camera, path)


# --- files ---------------------------------------------------------------------------------


class FileSource:
    """A video file decoded by OpenCV's FFmpeg backend, read in step with the consumer."""

    live = False

    def __init__(self, camera: str, path: Path) -> None:
        import cv2

        self.camera = camera
        self._lock = threading.Lock()  # close() from another thread must not race a read
        self._cap: cv2.VideoCapture | None = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(
                f"camera {camera!r}: cannot open video file '{path}': "
                "not a video format OpenCV can decode"
            )
        self.fps = _nominal_fps(self._cap)
        # Reading the first frame now catches files whose container opens but whose stream does
        # not decode, while `consentcam watch` can still fail fast.
        self._pending = self._read_bgr()
        if self._pending is None:
            self.close()
            raise SourceError(
                f"camera {camera!r}: cannot open video file '{path}': no decodable video frames"
            )
        self._read = 0

    def frames(self) -> Iterator[Frame]:
        """Every frame in order; single pass (a second call continues where the first stopped)."""
        while True:
            bgr, self._pending = self._pending, None
            if bgr is None:
                bgr = self._read_bgr()
            if bgr is None:
                self.close()
                return
            index, self._read = self._read, self._read + 1
            yield Frame(index, self._at_s(index), _utc_now(), bgr_to_rgb(bgr))

    def stats(self) -> SourceStats:
        return SourceStats(self._read, 0, 0, 0)

    def close(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None

    def _read_bgr(self) -> cv2.typing.MatLike | None:
        with self._lock:
            if self._cap is None:
                return None
            ok, bgr = self._cap.read()
        return bgr if ok and bgr is not None else None

    def _at_s(self, index: int) -> float:
        import cv2

        if self.fps:
            return index / self.fps
        # No usable nominal rate: use the container's timestamp of the frame last read.
        with self._lock:
            return 0.0 if self._cap is None else self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000


# --- image folders -------------------------------------------------------------------------


class FolderSource:
    """JPEG/PNG/WebP images in a folder, in natural name order (frame2 before frame10).

    Other files and hidden files are ignored. An image that cannot be decoded is skipped with a
    warning naming the file, and counted as dropped: one bad file in an export should not stop
    the run, and the gap in ``Frame.index`` shows where it was.
    """

    live = False

    def __init__(self, camera: str, folder: Path, fps: float) -> None:
        self.camera = camera
        self.fps: float | None = fps
        self._fps = fps  # not None, unlike the protocol attribute
        self._files = _image_files(folder)
        if not self._files:
            raise SourceError(
                f"camera {camera!r}: image folder '{folder}' holds no JPEG, PNG or WebP files"
            )
        self._read = 0
        self._dropped = 0
        self._closed = threading.Event()

    def frames(self) -> Iterator[Frame]:
        decode = DecodeSettings()
        for index, path in enumerate(self._files):
            if self._closed.is_set():
                return
            try:
                image = load_image(path, decode)
            except (InputError, NotFound) as exc:
                self._dropped += 1
                _log.warning("camera %r: skipped unreadable image: %s", self.camera, exc)
                continue
            self._read += 1
            yield Frame(index, index / self._fps, _utc_now(), image)

    def stats(self) -> SourceStats:
        return SourceStats(self._read, self._dropped, 0, 0)

    def close(self) -> None:
        self._closed.set()


def _image_files(folder: Path) -> list[Path]:
    files = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(files, key=_natural_key)


def _natural_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    # (0, number) sorts before (1, text) so mixed parts never compare int with str.
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in _DIGITS.split(path.name)
        if part
    )


# --- live streams and webcams ---------------------------------------------------------------

Opener = Callable[[], "cv2.VideoCapture | None"]


def _stream_opener(
    url: str, camera: str, settings: SourceSettings, policy: SourcePolicy, resolve: Resolver
) -> Opener:
    def open_stream() -> cv2.VideoCapture | None:
        import cv2

        # Checked on every open and reconnection: the name may resolve elsewhere by now. FFmpeg
        # gets the address that passed, never the name to resolve again by itself.
        target = checked_stream_url(url, policy, f"camera {camera!r}", resolve)
        # Without these FFmpeg waits 30 s or more on a silent server; with them a stalled
        # stream's read fails after read_timeout_s and the reader reconnects.
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            round(settings.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            round(settings.read_timeout_s * 1000),
        ]
        return _opened(lambda: cv2.VideoCapture(target, cv2.CAP_FFMPEG, params))

    return open_stream


def _webcam_opener(index: int, settings: SourceSettings) -> Opener:
    def open_webcam() -> cv2.VideoCapture | None:
        import cv2

        # CAP_ANY picks the platform's camera API (V4L2, AVFoundation, MSMF). The timeout is
        # set afterwards because a backend refuses to open when given parameters it lacks.
        cap = _opened(lambda: cv2.VideoCapture(index, cv2.CAP_ANY))
        if cap is not None:
            cap.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, round(settings.read_timeout_s * 1000))
        return cap

    return open_webcam


def _opened(make: Callable[[], cv2.VideoCapture]) -> cv2.VideoCapture | None:
    import cv2

    try:
        cap = make()
    except cv2.error:
        return None
    if cap.isOpened():
        return cap
    cap.release()
    return None


class LiveSource:
    """A stream or webcam read by a background thread into a one-slot latest-frame buffer."""

    live = True

    def __init__(self, camera: str, label: str, opener: Opener, settings: SourceSettings) -> None:
        self.camera = camera
        self._label = label
        self._open = opener
        self._backoff = Backoff(settings.reconnect_initial_s, settings.reconnect_max_s)
        cap = opener()
        if cap is None:
            raise SourceError(
                f"camera {camera!r}: cannot open live source {label}: "
                "no connection or no decodable video"
            )
        self.fps = _nominal_fps(cap)
        self._opened_at = time.monotonic()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._latest: Frame | None = None
        self._failure: str | None = None
        self._error: str | None = None  # the latest trouble, shown in the camera's health
        self._read = self._dropped = self._reconnects = 0
        self._thread = threading.Thread(
            target=self._run, args=(cap,), name=f"source-{camera}", daemon=True
        )
        self._thread.start()

    def frames(self) -> Iterator[Frame]:
        """The latest frame each time the consumer asks, until ``close()``."""
        while True:
            with self._cond:
                self._cond.wait_for(self._frame_or_end)
                if self._stop.is_set():
                    return
                if self._latest is None:
                    raise SourceError(f"camera {self.camera!r}: {self._failure}")
                frame, self._latest = self._latest, None
            yield frame

    def stats(self) -> SourceStats:
        with self._cond:
            depth = 0 if self._latest is None else 1
            return SourceStats(self._read, self._dropped, self._reconnects, depth, self._error)

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is threading.current_thread():
            return
        self._thread.join(_CLOSE_WAIT_S)
        if self._thread.is_alive():
            _log.warning(
                "camera %r: reader of %s is blocked in a read; it stops when the read times out",
                self.camera,
                self._label,
            )

    def _frame_or_end(self) -> bool:
        return self._latest is not None or self._stop.is_set() or self._failure is not None

    def _run(self, cap: cv2.VideoCapture) -> None:
        try:
            self._read_until_closed(cap)
        except Exception:
            # A bug in the reader must end the consumer's wait with an error, not hang it.
            _log.exception("camera %r: reader of %s failed", self.camera, self._label)
            with self._cond:
                self._failure = f"reader of live source {self._label} failed (see log)"
                self._error = self._failure
                self._cond.notify_all()

    def _read_until_closed(self, cap: cv2.VideoCapture | None) -> None:
        while cap is not None:
            self._pump(cap)
            cap.release()
            if self._stop.is_set():
                return
            cap = self._reconnect()

    def _pump(self, cap: cv2.VideoCapture) -> None:
        import cv2

        while not self._stop.is_set():
            try:
                ok, bgr = cap.read()
            except cv2.error as exc:
                ok, bgr = False, None
                _log.warning("camera %r: read error on %s: %s", self.camera, self._label, exc)
                self._trouble(f"read error on {self._label}")
            if not ok or bgr is None:
                if not self._stop.is_set():
                    _log.warning(
                        "camera %r: %s ended or stalled; reconnecting", self.camera, self._label
                    )
                    self._trouble(f"{self._label} ended or stalled; reconnecting")
                return
            self._publish(bgr_to_rgb(bgr))
            self._backoff.reset()

    def _publish(self, image: ImageArray) -> None:
        captured_at = _utc_now()
        at_s = time.monotonic() - self._opened_at
        with self._cond:
            if self._latest is not None:
                self._dropped += 1
            self._latest = Frame(self._read, at_s, captured_at, image)
            self._read += 1
            self._cond.notify_all()

    def _reconnect(self) -> cv2.VideoCapture | None:
        """An open capture, or None once ``close()`` was called; waits between tries."""
        while True:
            delay = self._backoff.next_delay()
            if self._stop.wait(delay):
                return None
            try:
                cap = self._open()
            except ConsentcamError as exc:
                # Refused or unresolvable now (the name answers with another address): not
                # connected; the name may answer as before later, so keep trying, checked again.
                _log.warning("%s; trying again in at most %.1f s", exc, self._backoff.current)
                self._trouble(str(exc))
                continue
            if cap is not None:
                with self._cond:
                    self._reconnects += 1
                _log.info("camera %r: reconnected to %s", self.camera, self._label)
                return cap
            _log.warning(
                "camera %r: cannot reconnect to %s; trying again in at most %.1f s",
                self.camera,
                self._label,
                self._backoff.current,
            )
            self._trouble(f"cannot reconnect to {self._label}")

    def _trouble(self, words: str) -> None:
        with self._cond:
            self._error = words


class Backoff:
    """Exponential backoff with jitter: waits drawn from [d/2, d], d doubling up to ``maximum``.

    The jitter keeps many cameras that lost one switch from reconnecting in lockstep; drawing
    below d keeps every wait within the configured bounds.
    """

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = max(maximum, initial)
        self.current = initial

    def next_delay(self) -> float:
        delay = random.uniform(self.current / 2, self.current)
        self.current = min(self.current * 2, self._maximum)
        return delay

    def reset(self) -> None:
        self.current = self._initial


# --- shared helpers ----------------------------------------------------------------------


def bgr_to_rgb(bgr: cv2.typing.MatLike) -> ImageArray:
    """OpenCV's BGR (or grey, or BGRA) frame as a C-contiguous RGB uint8 array."""
    import cv2

    if bgr.ndim == 2:
        code = cv2.COLOR_GRAY2RGB
    elif bgr.shape[2] == 4:
        code = cv2.COLOR_BGRA2RGB
    else:
        code = cv2.COLOR_BGR2RGB
    return np.ascontiguousarray(cv2.cvtColor(bgr, code), dtype=np.uint8)


def _nominal_fps(cap: cv2.VideoCapture) -> float | None:
    import cv2

    fps = cap.get(cv2.CAP_PROP_FPS)
    # OpenCV reports 0 or NaN when the container has no rate, and absurd values for some streams.
    return float(fps) if 0 < fps <= 1000 else None


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
