"""Simulated cameras (pipeline.simcam): a looped clip served as MJPEG, paced by the clock."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path

import cv2
import numpy as np
import pytest

from consentcam.config import SourceSettings
from consentcam.consent.camera_sources import SourcePolicy
from consentcam.errors import InputError
from consentcam.pipeline.simcam import SimulatedCamera, clip_jpegs, looped
from consentcam.pipeline.sources import open_source

from .stream_fixtures import HEIGHT, WIDTH, frame_number, write_clip

DEADLINE_S = 15.0


def test_looped_frames_wrap_around_from_their_offset() -> None:
    frames = looped([b"a", b"b", b"c"], offset=2)
    assert [frames(k, 1) for k in range(5)] == [b"c", b"a", b"b", b"c", b"a"]
    with pytest.raises(InputError, match="at least one frame"):
        looped([])


def test_clip_jpegs_encodes_every_frame_once(tmp_path: Path) -> None:
    jpegs = clip_jpegs(write_clip(tmp_path / "clip.mp4", 12, fps=15.0))
    images = [
        np.asarray(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR), np.uint8)
        for j in jpegs
    ]
    assert [frame_number(image) for image in images] == list(range(12))
    assert all(image.shape == (HEIGHT, WIDTH, 3) for image in images)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="no decodable video frames"):
        clip_jpegs(tmp_path / "empty.mp4")


def test_a_live_source_reads_the_looped_clip(tmp_path: Path) -> None:
    jpegs = clip_jpegs(write_clip(tmp_path / "clip.mp4", 6, fps=15.0))
    camera = SimulatedCamera(looped(jpegs), fps=50.0, per_connection=4)
    with camera.running():
        settings = SourceSettings(reconnect_initial_s=60)
        source = open_source(camera.url, "door-1", settings, policy=SourcePolicy(dev=True))
        with closing(source):
            frame = next(iter(source.frames()))
    assert frame_number(frame.image) in range(6)
    stats = camera.stats()
    assert stats.connections == 1
    assert 1 <= stats.frames_sent <= 4


def test_other_paths_are_not_found() -> None:
    camera = SimulatedCamera(looped([b"x"]), fps=10.0)
    with camera.running(), pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(camera.url.replace("stream.mjpg", "other"), timeout=5)
    assert exc.value.code == 404


def test_frames_due_while_a_client_is_not_reading_are_skipped_not_queued() -> None:
    """Like a real camera, a simulated one does not wait for a slow viewer: once the client's
    socket is full, the frames that fall due are skipped and counted, and the client is sent the
    frame due when it reads again."""
    big = b"\xff" * 512 * 1024  # a few of these fill the socket buffers on both sides
    camera = SimulatedCamera(looped([big]), fps=100.0)
    with camera.running(), socket.create_connection(("127.0.0.1", camera.port)) as client:
        client.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")
        time.sleep(1.0)  # not reading: 100 frames fall due, the buffers hold a few dozen at most
        client.settimeout(DEADLINE_S)
        deadline = time.monotonic() + DEADLINE_S
        while camera.stats().frames_skipped == 0 and time.monotonic() < deadline:
            assert client.recv(1 << 20)
    stats = camera.stats()
    assert stats.frames_skipped > 0
    assert stats.frames_sent + stats.frames_skipped >= 50  # about 100: the frames due meanwhile
