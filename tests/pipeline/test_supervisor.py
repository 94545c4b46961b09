"""`consentcam run`'s supervisor: one process per camera, restarts, metrics."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import select, update

from consentcam.config import SourceSettings, load_settings
from consentcam.consent.context import Ledger, open_ledger
from consentcam.consent.gallery import SiteGallery
from consentcam.consent.sites import add_camera, add_site
from consentcam.pipeline import supervisor as supervisor_module
from consentcam.pipeline.metrics import WorkerMetrics, metrics_registry
from consentcam.pipeline.sources import Frame, SourceStats
from consentcam.pipeline.supervisor import EXIT_REFUSED, Supervisor, camera_process, site_cameras
from consentcam.pipeline.worker import WorkerStats
from consentcam.store.models import Camera, FootfallBucket
from consentcam.vision import embed, models


def _stats(camera: str, frames: int = 10) -> WorkerStats:
    return WorkerStats(
        camera=camera,
        frames=frames,
        frames_read=frames + 4,
        fps=12.5,
        dropped=3,
        reconnects=1,
        queue_depth=1,
        live_tracks=2,
        events=0,
        stage_ms={"detect": 20.0, "embed": 4.5},
    )


def flaky_camera(settings_doc: dict[str, Any], camera_id: str, stats: Any, stop: Any) -> None:
    """Crashes on its first start (a marker file remembers), then reports and runs."""
    marker = Path(settings_doc["data_dir"]) / f"crashed-{camera_id}"
    if not marker.exists():
        marker.write_text("1")
        os._exit(1)
    stats.put(_stats(camera_id))
    deadline = time.monotonic() + 30
    while not stop.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)


def refused_camera(settings_doc: dict[str, Any], camera_id: str, stats: Any, stop: Any) -> None:
    raise SystemExit(EXIT_REFUSED)


def _supervise(supervisor: Supervisor, until: Callable[[], bool], timeout_s: float = 60) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + timeout_s
    try:
        while not until() and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()


def test_a_crashed_worker_is_restarted(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, dev=True)
    supervisor = Supervisor(
        settings, [("cam-a", "cam-a")], target=flaky_camera, restart_initial_s=0.05
    )

    def exposition() -> str:
        return generate_latest(metrics_registry(supervisor.metrics)).decode()

    _supervise(supervisor, lambda: 'consentcam_camera_fps{camera="cam-a"}' in exposition())
    assert supervisor.metrics.restarts("cam-a") == 1
    assert supervisor.slots[0].exits[0] == 1
    assert 'consentcam_worker_restarts_total{camera="cam-a"} 1.0' in exposition()


def test_a_camera_refused_by_policy_is_not_restarted(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, dev=True)
    supervisor = Supervisor(
        settings, [("cam-b", "cam-b")], target=refused_camera, restart_initial_s=0.05
    )
    _supervise(supervisor, lambda: supervisor.slots[0].refused)
    assert supervisor.slots[0].exits == [EXIT_REFUSED]
    assert supervisor.metrics.restarts("cam-b") == 0


def test_metrics_expose_rates_latency_drops_and_queue_depth() -> None:
    metrics = WorkerMetrics()
    metrics.record(_stats("door-1", frames=250))
    text = generate_latest(metrics_registry(metrics)).decode()
    assert 'consentcam_camera_fps{camera="door-1"} 12.5' in text
    assert 'consentcam_camera_frames_total{camera="door-1"} 250.0' in text
    assert 'consentcam_camera_source_frames_total{camera="door-1"} 254.0' in text
    assert 'consentcam_camera_dropped_frames_total{camera="door-1"} 3.0' in text
    assert 'consentcam_camera_queue_depth{camera="door-1"} 1.0' in text
    assert 'consentcam_stage_latency_ms{camera="door-1",stage="detect"} 20.0' in text


def test_run_drives_real_camera_processes_to_the_end_of_their_files(
    tmp_path: Path, stranger_clip: Path
) -> None:
    """The real camera process: a count camera on a file runs to its end, writes footfall, and
    its figures reach the supervisor; the supervisor then stops by itself."""
    settings = load_settings(data_dir=tmp_path, dev=True, pipeline={"detect_scale": 1.0})
    ledger = open_ledger(settings, "test", create=True)
    add_site(ledger, "shop", "eu")
    add_camera(ledger, "shop", "entrance", str(stranger_clip), "count", False)
    cameras = site_cameras(settings, "shop")
    assert [name for _, name in cameras] == ["entrance"]
    supervisor = Supervisor(settings, cameras)
    _supervise(supervisor, lambda: False, timeout_s=120)
    assert supervisor.slots[0].exits == [0]
    with ledger.store.transaction() as s:
        visits = sum(b.visits for b in s.execute(select(FootfallBucket)).scalars())
    assert visits >= 1


def test_a_worker_killed_mid_stream_is_restarted_without_a_duplicate_alert(
    site_ledger: Any,
    enrol: Callable[[str, str], str],
    camera: Callable[[str, Path, str], str],
    two_people_clip: tuple[Path, Any],
) -> None:
    """SIGKILL the door camera's process right after its alert is written: the supervisor
    restarts it, the new process sees the member again within the cooldown and writes no
    second alert (delivery downstream is at least once; the alert itself is written once)."""
    import signal

    from consentcam.store.models import Event

    obama = enrol("Barack", "obama.jpg")
    camera("door-1", two_people_clip[0], "door")
    supervisor = Supervisor(
        site_ledger.settings, site_cameras(site_ledger.settings, "shop"), restart_initial_s=0.1
    )
    killed: list[int] = []

    def events() -> list[str]:
        with site_ledger.store.transaction() as s:
            return [e.member_id for e in s.execute(select(Event)).scalars()]

    def kill_after_the_alert() -> bool:
        slot = supervisor.slots[0]
        if not killed and slot.process is not None and slot.process.pid and events():
            os.kill(slot.process.pid, signal.SIGKILL)
            killed.append(slot.process.pid)
        return bool(killed) and slot.refused  # restarted, then finished the file

    _supervise(supervisor, kill_after_the_alert, timeout_s=120)
    assert killed, "the alert was written while the first process ran"
    assert supervisor.slots[0].exits == [-signal.SIGKILL, 0]
    assert supervisor.metrics.restarts("door-1") == 1
    assert events() == [obama]


class _NoFrames:
    """A source with nothing to read: the camera process's run ends at once."""

    live = False
    fps = None

    def __init__(self, camera: str) -> None:
        self.camera = camera

    def frames(self) -> Iterator[Frame]:
        return iter(())

    def stats(self) -> SourceStats:
        return SourceStats(0, 0, 0, 0)

    def close(self) -> None:
        pass


def _model_caches(ledger: Ledger) -> list[Any]:
    """The per-process caches of the models a door camera uses, in the configured types."""
    vision = ledger.settings.vision
    weights = embed._resnet_weights if vision.embed.type == "numpy" else models.dlib_resnet
    detector = models.hog_detector if vision.detect.type == "hog" else models.cnn_detector
    return [detector, models.shape_predictor, weights]


def _in_camera_process(
    ledger: Ledger, camera_id: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[dict[str, bool]], list[int]]:
    """Run the camera process body here, with models unloaded and a source that records what
    was loaded when it was opened; returns the exit code, those records and the gallery
    refreshes."""
    caches = _model_caches(ledger)
    refreshes: list[int] = []
    refresh = SiteGallery.refresh

    def counted_refresh(gallery: SiteGallery, now: Any = None) -> bool:
        refreshes.append(1)
        return refresh(gallery, now)

    opened: list[dict[str, bool]] = []

    def open_source(
        uri: str, camera: str, settings: SourceSettings | None = None, **rule: Any
    ) -> _NoFrames:
        opened.append(
            {
                "models": all(c.cache_info().currsize for c in caches),
                "gallery": bool(refreshes),
            }
        )
        return _NoFrames(camera)

    monkeypatch.setattr(SiteGallery, "refresh", counted_refresh)
    monkeypatch.setattr(supervisor_module, "open_source", open_source)
    # Not in the test process: it would hold every later test to one BLAS thread.
    monkeypatch.setattr(supervisor_module, "limit_blas_threads", lambda: None)
    for cache in caches:
        cache.cache_clear()
    stop = threading.Event()
    code: Any = 0
    try:
        camera_process(ledger.settings.model_dump(mode="json"), camera_id, queue.Queue(), stop)
    except SystemExit as exc:
        code = exc.code
    finally:
        stop.set()
    return code, opened, refreshes


def test_a_camera_process_loads_models_and_gallery_before_it_opens_the_camera(
    site_ledger: Ledger,
    enrol: Callable[[str, str], str],
    camera: Callable[[str, Path, str], str],
    two_people_clip: tuple[Path, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A live stream opened before the models load piles up unread while they load, and the
    worker starts seconds behind the camera."""
    enrol("Barack", "obama.jpg")
    door = camera("door-1", two_people_clip[0], "door")
    code, opened, _ = _in_camera_process(site_ledger, door, monkeypatch)
    assert code == 0
    assert opened == [{"models": True, "gallery": True}]


def test_a_camera_refused_by_policy_loads_and_opens_nothing(
    site_ledger: Ledger,
    camera: Callable[[str, Path, str], str],
    two_people_clip: tuple[Path, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    door = camera("door-1", two_people_clip[0], "door")
    with site_ledger.store.transaction() as s:
        s.execute(update(Camera).values(signage_attested=False))
    code, opened, refreshes = _in_camera_process(site_ledger, door, monkeypatch)
    assert code == EXIT_REFUSED
    assert opened == [] and refreshes == []
    assert not any(c.cache_info().currsize for c in _model_caches(site_ledger))
