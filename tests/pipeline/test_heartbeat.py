"""Camera health in the store: the worker's heartbeat, the supervisor's restarts, and reading
them back as online, offline or never seen (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from consentcam.consent.context import Ledger
from consentcam.consent.health import camera_health, judge
from consentcam.pipeline.camera import camera_context
from consentcam.pipeline.clips import ClipTruth
from consentcam.pipeline.heartbeat import (
    Beat,
    HeartbeatThread,
    error_words,
    record_exit,
    write_beat,
)
from consentcam.pipeline.sources import open_source
from consentcam.pipeline.worker import CameraWorker, run_camera
from consentcam.store.models import CameraHeartbeat, utcnow

AddCamera = Callable[[str, Path | str, str], str]
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def _beats(ledger: Ledger) -> list[CameraHeartbeat]:
    with ledger.store.transaction() as s:
        rows = list(s.execute(select(CameraHeartbeat)).scalars())
        s.expunge_all()
        return rows


def _beat(frames: int, error: str | None = None, at: dt.datetime = NOW) -> Beat:
    return Beat(
        fps=12.345, frames=frames, dropped=2, reconnects=1, last_frame_at=at, last_error=error
    )


def test_one_row_per_camera_upserted_and_restarts_added(
    site_ledger: Ledger, camera: AddCamera
) -> None:
    cid = camera("entrance", "entrance.mp4", "count")
    with site_ledger.store.transaction() as s:
        record_exit(s, cid, "worker exited with code 3", NOW, restart=True)
    (row,) = _beats(site_ledger)
    assert (row.restarts, row.frames, row.last_error) == (1, 0, "worker exited with code 3")
    assert judge(row, NOW, 15)[0] == "offline"  # the supervisor's word is not a heartbeat

    with site_ledger.store.transaction() as s:
        write_beat(s, cid, _beat(10), NOW)
    with site_ledger.store.transaction() as s:
        write_beat(s, cid, _beat(25), NOW + dt.timedelta(seconds=5))
        record_exit(s, cid, "worker exited with code 1", NOW, restart=True)
    (row,) = _beats(site_ledger)
    assert (row.frames, row.fps, row.dropped, row.reconnects, row.restarts) == (25, 12.35, 2, 1, 2)
    assert row.updated_at == NOW + dt.timedelta(seconds=5)  # the restart did not touch it
    assert row.last_error == "worker exited with code 1"

    with site_ledger.store.transaction() as s:  # no error of its own: the last one stays
        write_beat(s, cid, _beat(30), NOW + dt.timedelta(seconds=10))
    assert _beats(site_ledger)[0].last_error == "worker exited with code 1"


def test_errors_are_stored_without_credentials(site_ledger: Ledger, camera: AddCamera) -> None:
    cid = camera("door-cam", "entrance.mp4", "count")
    secret = "rtsp://admin:hunter2@10.0.0.5:554/live?token=abc cannot reconnect\nretrying"
    with site_ledger.store.transaction() as s:
        write_beat(s, cid, _beat(1, error=secret), NOW)
    (row,) = _beats(site_ledger)
    assert row.last_error == "rtsp://10.0.0.5:554/… cannot reconnect retrying"
    assert "hunter2" not in (row.last_error or "") and "abc" not in (row.last_error or "")
    assert len(error_words("x" * 1000)) == 300


def test_online_offline_and_never_seen_by_staleness(site_ledger: Ledger, camera: AddCamera) -> None:
    fresh, stalled, silent = (camera(n, "entrance.mp4", "count") for n in ("a", "b", "c"))
    camera("d", "entrance.mp4", "count")
    now = utcnow()
    with site_ledger.store.transaction() as s:
        write_beat(s, fresh, _beat(5, at=now - dt.timedelta(seconds=2)), now)
        write_beat(s, stalled, _beat(5, at=now - dt.timedelta(seconds=60)), now)
        write_beat(
            s, silent, _beat(5, at=now - dt.timedelta(seconds=600)), now - dt.timedelta(seconds=600)
        )
    health = {h.camera: h for h in camera_health(site_ledger, "shop")}
    assert site_ledger.settings.pipeline.stale_after_s == 15.0  # 3 x the 5 s default
    assert health["a"].state == "online" and health["a"].fps == 12.35
    assert health["b"].state == "offline" and "no frame for" in health["b"].reason
    assert health["c"].state == "offline" and "no heartbeat for 10 min" in health["c"].reason
    assert health["d"].state == "never seen" and health["d"].frames is None

    # A longer limit makes the same heartbeats fresh.
    pipeline = site_ledger.settings.pipeline.model_copy(update={"heartbeat_stale_s": 900.0})
    relaxed = Ledger(
        site_ledger.store,
        site_ledger.keys,
        site_ledger.actor,
        site_ledger.settings.model_copy(update={"pipeline": pipeline}),
    )
    assert {h.camera: h.state for h in camera_health(relaxed)}["c"] == "online"


def test_heartbeat_thread_survives_the_store_and_waits_while_it_is_away() -> None:
    written: list[Beat] = []
    failures: list[SQLAlchemyError] = []
    down = [False]
    clock = iter([0.0, 2.0, 4.0, 6.0]).__next__
    frames = iter([0, 20, 40, 60])

    def write(beat: Beat) -> None:
        if len(written) == 1 and not failures:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        written.append(beat)

    thread = HeartbeatThread(
        write,
        lambda: (next(frames), 0, 0, NOW, "stream stalled"),
        interval_s=1.0,
        store_ok=lambda: not down[0],
        failed=failures.append,
        clock=clock,
    )
    thread.beat()
    thread.beat()  # the store fails: reported, not raised
    down[0] = True
    thread.beat()  # the store is away: not even tried
    down[0] = False
    thread.beat()
    assert len(failures) == 1
    assert [b.frames for b in written] == [0, 60]
    assert written[1].fps == pytest.approx(10.0)
    # The error is sent once; later beats leave the stored one alone.
    assert [b.last_error for b in written] == ["stream stalled", None]


def test_a_running_worker_writes_its_heartbeat(
    site_ledger: Ledger, camera: AddCamera, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    camera("count-1", two_people_clip[0], "count")
    ctx = camera_context(site_ledger, "count-1")
    worker = CameraWorker(site_ledger, ctx)
    source = open_source(ctx.source, ctx.camera)
    run_camera(worker, source, heartbeat=True)
    (row,) = _beats(site_ledger)
    assert row.camera_id == ctx.camera_id and row.frames == two_people_clip[1].frames
    assert row.last_frame_at is not None and row.last_error is None
    (health,) = camera_health(site_ledger, "shop")
    assert health.state == "online"  # the final beat, just written


def test_a_removed_cameras_worker_stops_its_heartbeat_without_an_outage(
    site_ledger: Ledger, camera: AddCamera
) -> None:
    from consentcam.consent.sites import remove_camera
    from consentcam.pipeline.heartbeat import beat_writer

    cid = camera("gone", "entrance.mp4", "count")
    failures: list[SQLAlchemyError] = []
    thread = HeartbeatThread(
        beat_writer(site_ledger.store, cid),
        lambda: (1, 0, 0, NOW, None),
        interval_s=1.0,
        failed=failures.append,
    )
    thread.beat()
    assert len(_beats(site_ledger)) == 1
    remove_camera(site_ledger, "shop", "gone")
    thread.beat()
    thread.beat()
    assert failures == [] and _beats(site_ledger) == []


def test_the_supervisor_records_restarts_and_why(site_ledger: Ledger, camera: AddCamera) -> None:
    from consentcam.pipeline.supervisor import Supervisor
    from tests.pipeline.test_supervisor import _supervise, flaky_camera

    cid = camera("flaky", "entrance.mp4", "count")
    supervisor = Supervisor(
        site_ledger.settings, [(cid, "flaky")], target=flaky_camera, restart_initial_s=0.05
    )
    _supervise(supervisor, lambda: supervisor.metrics.restarts("flaky") == 1)
    (row,) = _beats(site_ledger)
    assert row.restarts == 1 and row.last_error is not None
    assert row.last_error.startswith("worker exited with code 1; restarting in")
    (health,) = camera_health(site_ledger, "shop")
    assert health.state == "offline" and health.restarts == 1  # no heartbeat from it yet
