"""`consentcam run`'s supervisor: one process per camera, restarts, metrics."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from sqlalchemy import select

from consentcam.config import load_settings
from consentcam.consent.ledger import add_camera, add_site, open_ledger
from consentcam.pipeline.metrics import WorkerMetrics, metrics_registry
from consentcam.pipeline.supervisor import EXIT_REFUSED, Supervisor, site_cameras
from consentcam.pipeline.worker import WorkerStats
from consentcam.store.models import FootfallBucket


def _stats(camera: str, frames: int = 10) -> WorkerStats:
    return WorkerStats(
        camera=camera,
        frames=frames,
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
    exposition = lambda: generate_latest(metrics_registry(supervisor.metrics)).decode()  # noqa: E731
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
