from __future__ import annotations

import datetime as dt
import itertools
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from consentcam.config import SourceSettings
from consentcam.consent.camera_sources import SourcePolicy
from consentcam.errors import InputError, SourceError
from consentcam.pipeline.sources import (
    Backoff,
    Frame,
    LiveSource,
    Source,
    open_source,
)

from .stream_fixtures import (
    HEIGHT,
    WIDTH,
    MjpegServer,
    frame_connection,
    frame_number,
    numbered_frame,
    write_clip,
)

# Small reconnect waits keep the tests fast; the read timeout stays generous because a loaded
# machine can be slow to decode, and a spurious timeout would only add a reconnect anyway.
FAST = SourceSettings(reconnect_initial_s=0.05, reconnect_max_s=0.2, read_timeout_s=10)
# Long enough that nothing in a test waits for it: used to test that close() interrupts waits.
SLOW = SourceSettings(reconnect_initial_s=60, reconnect_max_s=60, read_timeout_s=10)
# Every blocking wait in these tests ends by this deadline, so a failure fails instead of hanging.
DEADLINE_S = 15.0
# The test streams are served on loopback, which a development store's camera rule allows.
LOOPBACK = SourcePolicy(dev=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "door.mp4"
    return write_clip(path, 64, fps=16.0, red_last=True)


def _closing_after(source: Source, seconds: float) -> threading.Timer:
    """Close ``source`` after ``seconds``: ends a live ``frames()`` loop if a test goes wrong."""
    timer = threading.Timer(seconds, source.close)
    timer.daemon = True
    timer.start()
    return timer


def _take(frames: Iterator[Frame], count: int) -> list[Frame]:
    taken = []
    for frame in frames:
        taken.append(frame)
        if len(taken) == count:
            break
    return taken


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- files ---------------------------------------------------------------------------------


def test_file_source_reads_every_frame_in_order_then_ends(clip: Path) -> None:
    with closing(open_source(str(clip), "door-1")) as source:
        assert source.camera == "door-1"
        assert not source.live
        assert source.fps == pytest.approx(16.0)
        frames = list(source.frames())
        assert list(source.frames()) == []  # single pass: ended at EOF
        stats = source.stats()

    assert [f.index for f in frames] == list(range(65))
    assert [frame_number(f.image) for f in frames[:64]] == list(range(64))
    assert [f.at_s for f in frames] == [i / 16.0 for i in range(65)]
    for frame in frames:
        assert frame.image.shape == (HEIGHT, WIDTH, 3)
        assert frame.image.dtype == np.uint8
        assert frame.image.flags.c_contiguous
        assert frame.captured_at.tzinfo is dt.UTC
    assert stats.frames_read == 65
    assert (stats.frames_dropped, stats.reconnects, stats.queue_depth) == (0, 0, 0)


def test_file_frames_are_rgb(clip: Path) -> None:
    with closing(open_source(str(clip), "door-1")) as source:
        red = list(source.frames())[-1].image
    r, g, b = (int(v) for v in red[HEIGHT // 2, WIDTH // 2])
    assert r > 200 and g < 60 and b < 60, (r, g, b)


def test_file_uri_opens_the_file(clip: Path) -> None:
    with closing(open_source(clip.as_uri(), "door-1")) as source:
        assert len(list(source.frames())) == 65


def test_close_stops_a_file_source_midway(clip: Path) -> None:
    source = open_source(str(clip), "door-1")
    frames = source.frames()
    assert len(_take(frames, 3)) == 3
    source.close()
    assert list(frames) == []


# --- folders -------------------------------------------------------------------------------


def _save(path: Path, number: int) -> None:
    # numbered_frame is BGR, but its stripes are grey, so channel order does not matter here.
    Image.fromarray(numbered_frame(number)).save(path)


def test_folder_source_yields_images_in_natural_order(tmp_path: Path) -> None:
    _save(tmp_path / "frame10.png", 10)
    _save(tmp_path / "frame2.jpg", 2)
    _save(tmp_path / "frame1.webp", 1)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "subdir.jpg").mkdir()

    settings = SourceSettings(folder_fps=4.0)
    with closing(open_source(str(tmp_path), "door-1", settings)) as source:
        assert not source.live
        assert source.fps == 4.0
        frames = list(source.frames())
        stats = source.stats()

    assert [frame_number(f.image) for f in frames] == [1, 2, 10]
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.at_s for f in frames] == [0.0, 0.25, 0.5]
    assert all(f.image.flags.c_contiguous and f.image.dtype == np.uint8 for f in frames)
    assert (stats.frames_read, stats.frames_dropped) == (3, 0)


def test_folder_source_skips_an_unreadable_image_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _save(tmp_path / "a.png", 1)
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg at all")
    _save(tmp_path / "c.png", 3)

    with (
        caplog.at_level(logging.WARNING, "consentcam.pipeline.sources"),
        closing(open_source(str(tmp_path), "door-1")) as source,
    ):
        frames = list(source.frames())
        stats = source.stats()

    assert [f.index for f in frames] == [0, 2]  # the gap shows where the bad file was
    assert (stats.frames_read, stats.frames_dropped) == (2, 1)
    [record] = caplog.records
    assert "door-1" in record.getMessage() and "b.jpg" in record.getMessage()


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match=r"camera 'door-1'.*no JPEG, PNG or WebP"):
        open_source(str(tmp_path), "door-1")


# --- errors --------------------------------------------------------------------------------


def test_missing_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "x.mp4"
    with pytest.raises(SourceError) as exc:
        open_source(str(missing), "door-1")
    assert str(exc.value) == f"camera 'door-1': cannot open video file '{missing}': no such file"
    assert isinstance(exc.value, InputError)  # the CLI maps it to exit 2


def test_unsupported_scheme_is_refused() -> None:
    with pytest.raises(SourceError, match="camera 'door-1': unsupported source scheme 'ftp'"):
        open_source("ftp://cam.example/live", "door-1")


def test_text_file_named_mp4_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video\n" * 50)
    with pytest.raises(SourceError, match=r"camera 'door-1': cannot open video file .*fake\.mp4"):
        open_source(str(fake), "door-1")


def test_stream_that_cannot_open_is_refused_at_once_without_its_password() -> None:
    url = f"http://admin:hunter2@127.0.0.1:{_free_port()}/stream.mjpg"
    with pytest.raises(SourceError, match="camera 'door-1': cannot open live source") as exc:
        open_source(url, "door-1", FAST, policy=LOOPBACK)
    assert "hunter2" not in str(exc.value)


def test_missing_webcam_is_refused() -> None:
    with pytest.raises(SourceError, match="camera 'desk': cannot open live source device:63"):
        open_source("/dev/video63", "desk")


# --- live streams --------------------------------------------------------------------------


def test_live_stream_reconnects_after_the_server_drops_it() -> None:
    with MjpegServer(per_connection=5, interval_s=0.01).running() as server:
        source = open_source(server.url, "door-1", FAST, policy=LOOPBACK)
        timer = _closing_after(source, DEADLINE_S)
        seen: list[Frame] = []
        with closing(source):
            assert source.live
            for frame in source.frames():
                seen.append(frame)
                if frame_connection(frame.image) >= 3:
                    break
            stats = source.stats()
        timer.cancel()

    connections = {frame_connection(f.image) for f in seen}
    assert {1, 2, 3} <= connections, f"frames only from connections {connections}"
    assert stats.reconnects >= 2
    indices = [f.index for f in seen]
    assert indices == sorted(set(indices))  # indices keep counting across reconnects
    assert all(f.image.shape == (HEIGHT, WIDTH, 3) and f.image.flags.c_contiguous for f in seen)


def test_slow_consumer_gets_the_latest_frame_and_drops_the_rest() -> None:
    with MjpegServer(per_connection=None, interval_s=0.005).running() as server:
        source = open_source(server.url, "door-1", FAST, policy=LOOPBACK)
        timer = _closing_after(source, DEADLINE_S)
        seen: list[Frame] = []
        depths: list[int] = []
        with closing(source):
            for frame in source.frames():
                seen.append(frame)
                time.sleep(0.1)  # a worker slower than the camera
                depths.append(source.stats().queue_depth)
                if len(seen) == 8:
                    break
            stats = source.stats()
        timer.cancel()

    assert len(seen) == 8
    assert stats.frames_dropped > 0
    assert max(b.index - a.index for a, b in itertools.pairwise(seen)) > 1
    assert max(depths) <= 1
    assert stats.frames_read >= seen[-1].index + 1


def test_close_returns_promptly_and_ends_a_waiting_consumer() -> None:
    # The server drops the stream after 3 frames and the next reconnect is a minute away, so the
    # reader sits in its backoff wait and the consumer in frames(): close() must end both.
    with MjpegServer(per_connection=3, interval_s=0.01).running() as server:
        source = open_source(server.url, "door-1", SLOW, policy=LOOPBACK)
        assert isinstance(source, LiveSource)
        consumed: list[Frame] = []
        consumer = threading.Thread(target=lambda: consumed.extend(source.frames()))
        consumer.start()
        time.sleep(0.5)  # not a correctness wait: the test passes without it, just less usefully
        started = time.monotonic()
        source.close()
        took = time.monotonic() - started
        consumer.join(DEADLINE_S)

    assert not source._thread.is_alive()
    assert not consumer.is_alive()
    assert took < 5.0  # generous: the backoff wait alone would be 30-60 s
    assert source.stats().reconnects == 0


def test_backoff_doubles_with_jitter_up_to_the_maximum_and_resets() -> None:
    backoff = Backoff(0.5, 3.0)
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, ceiling in zip(delays, [0.5, 1.0, 2.0, 3.0, 3.0, 3.0], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 0.5
