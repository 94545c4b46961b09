"""``consentcam run``: one process per camera, restarted when it crashes, with metrics.

Each camera runs in its own process (a crash or a stuck decoder takes down one camera, not the
site, and cameras use separate cores). A worker that exits with an error is restarted with a
doubling delay; one refused by policy (profile, signage) is not restarted, since nothing would
change. Workers send their figures to the supervisor over a queue; the supervisor serves them
to Prometheus.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from consentcam.config import Settings
from consentcam.consent.context import Ledger, open_ledger, site_by_name
from consentcam.consent.sites import camera_source_policy
from consentcam.errors import ConsentcamError, PolicyError
from consentcam.pipeline.camera import camera_context
from consentcam.pipeline.heartbeat import record_exit
from consentcam.pipeline.metrics import WorkerMetrics
from consentcam.pipeline.sources import open_source
from consentcam.pipeline.worker import CameraWorker, WorkerStats, run_camera
from consentcam.store.models import Camera, utcnow
from consentcam.vision.faces import limit_blas_threads

log = logging.getLogger(__name__)

# Exit codes of a camera process, read by the supervisor.
EXIT_REFUSED = 2  # policy refused the camera: do not restart
EXIT_FAILED = 3  # source or runtime failure: restart after a delay

CameraTarget = Callable[[dict[str, Any], str, Any, Any], None]


def site_cameras(settings: Settings, site_name: str | None) -> list[tuple[str, str]]:
    """(camera id, name) of every camera of the site, or of every site."""
    ledger = open_ledger(settings, actor="supervisor")
    with ledger.store.transaction() as s:
        query = select(Camera.id, Camera.name).order_by(Camera.name)
        if site_name is not None:
            site = site_by_name(s, site_name, ledger.tenant_id(s))
            query = query.where(Camera.site_id == site.id)
        return [(cid, name) for cid, name in s.execute(query).all()]


def camera_process(settings_doc: dict[str, Any], camera_id: str, stats: Any, stop: Any) -> None:
    """Body of one camera's process: run the camera until ``stop`` is set or the source ends;
    exit with EXIT_REFUSED or EXIT_FAILED so the supervisor knows whether to restart."""
    # A terminal's Ctrl-C or hang-up and systemd's SIGTERM reach every process of the group,
    # this one too, not only the supervisor: each ends the frame loop like the supervisor's
    # stop, so the footfall held in memory and the spooled alerts are written (by default
    # SIGTERM and SIGHUP killed the process on the spot and SIGINT raised mid-frame).
    halt = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: halt.set())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    limit_blas_threads()
    settings = Settings.model_validate(settings_doc)
    try:
        ledger = open_ledger(settings, actor=f"camera:{camera_id}")
        ctx = camera_context(ledger, camera_id)  # policy first: a refused camera loads nothing
        worker = CameraWorker(ledger, ctx)
        # Models and gallery before the camera: a live stream opened first piles up unread
        # while they load, and the worker starts seconds behind.
        worker.load()
        policy = camera_source_policy(settings)  # the source rule, checked again at open
        source = open_source(ctx.source, ctx.camera, settings.source, policy=policy)
    except PolicyError as exc:
        log.error("%s", exc)
        raise SystemExit(EXIT_REFUSED) from None
    except ConsentcamError as exc:
        log.error("%s", exc)
        raise SystemExit(EXIT_FAILED) from None

    # The worker loop takes a threading.Event; mirror the supervisor's process-shared one by
    # polling: a process that exits while blocked in a multiprocessing Event's wait() leaves its
    # condition expecting a sleeper, and the supervisor's later set() would hang.
    def relay() -> None:
        while not stop.is_set() and not halt.wait(0.2):
            pass
        halt.set()

    threading.Thread(target=relay, daemon=True).start()
    try:
        run_camera(worker, source, stop=halt, on_stats=stats.put, heartbeat=True)
    finally:
        source.close()


@dataclass
class _Slot:
    camera_id: str
    name: str
    process: BaseProcess | None = None
    restart_at: float = 0.0
    delay_s: float = 0.0
    refused: bool = False  # or finished: either way not restarted
    exits: list[int] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        cameras: list[tuple[str, str]],
        *,
        metrics: WorkerMetrics | None = None,
        target: CameraTarget = camera_process,
        restart_initial_s: float = 1.0,
        restart_max_s: float = 60.0,
    ) -> None:
        self._settings = settings
        self._settings_doc = settings.model_dump(mode="json")
        self._ledger: Ledger | None = None  # opened at the first exit it reports
        self._ctx = mp.get_context("spawn")  # fresh interpreters: no inherited locks or models
        self._stats: Any = self._ctx.Queue()
        self._stop: Any = self._ctx.Event()
        self._target = target
        self._initial = restart_initial_s
        self._max = restart_max_s
        self.metrics = metrics or WorkerMetrics()
        self.slots = [_Slot(cid, name, delay_s=restart_initial_s) for cid, name in cameras]

    def run(self, stop: threading.Event, poll_s: float = 0.2) -> None:
        """Keep every camera running until ``stop`` is set (or every camera has finished or
        been refused), then stop them all."""
        try:
            while not stop.is_set() and not all(slot.refused for slot in self.slots):
                now = time.monotonic()
                for slot in self.slots:
                    self._tend(slot, now)
                self._drain_stats(poll_s)
        finally:
            self._shutdown()

    def _tend(self, slot: _Slot, now: float) -> None:
        if slot.refused:
            return
        process = slot.process
        if process is not None and process.is_alive():
            return
        if process is not None:
            code = process.exitcode if process.exitcode is not None else -1
            slot.exits.append(code)
            slot.process = None
            if code == 0:
                slot.refused = True  # a file source reached its end: nothing to restart
                log.info("camera %s finished", slot.name)
                return
            if code == EXIT_REFUSED:
                slot.refused = True
                log.error("camera %s refused by policy; not restarting", slot.name)
                self._report_exit(slot, "refused by policy (see the log); not restarted", False)
                return
            log.warning(
                "camera %s worker exited (%s); restart in %.1fs", slot.name, code, slot.delay_s
            )
            self._report_exit(
                slot, f"worker exited with code {code}; restarting in {slot.delay_s:.0f} s", True
            )
            slot.restart_at = now + slot.delay_s
            slot.delay_s = min(slot.delay_s * 2, self._max)
            return
        if now < slot.restart_at:
            return
        if slot.exits:
            self.metrics.restarted(slot.name)
        slot.process = self._ctx.Process(
            target=self._target,
            args=(self._settings_doc, slot.camera_id, self._stats, self._stop),
            name=f"camera-{slot.name}",
            daemon=True,
        )
        slot.process.start()

    def _report_exit(self, slot: _Slot, words: str, restart: bool) -> None:
        """Into the camera's health row (``pipeline.heartbeat``), so the dashboard shows the
        restarts and why; the store being away costs the record, never the restart."""
        try:
            if self._ledger is None:
                self._ledger = open_ledger(self._settings, actor="supervisor")
            with self._ledger.store.transaction() as s:
                record_exit(s, slot.camera_id, words, utcnow(), restart=restart)
        except (SQLAlchemyError, ConsentcamError) as exc:
            log.warning("camera %s: health not recorded (%s)", slot.name, type(exc).__name__)

    def _drain_stats(self, wait_s: float) -> None:
        try:
            stats = self._stats.get(timeout=wait_s)
        except queue.Empty:
            return
        while True:
            if isinstance(stats, WorkerStats):
                self.metrics.record(stats)
                self._healthy(stats.camera)
            try:
                stats = self._stats.get_nowait()
            except queue.Empty:
                return

    def _healthy(self, camera: str) -> None:
        """A worker that reports figures is up: its next crash restarts quickly again."""
        for slot in self.slots:
            if slot.name == camera:
                slot.delay_s = self._initial

    def _shutdown(self, grace_s: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + grace_s
        for slot in self.slots:
            if slot.process is not None:
                slot.process.join(max(0.0, deadline - time.monotonic()))
                if slot.process.is_alive():
                    # SIGTERM only asks (the camera handles it as a stop, above): a camera
                    # stuck past the grace period and the ask is killed.
                    slot.process.terminate()
                    slot.process.join(1.0)
                if slot.process.is_alive():
                    slot.process.kill()
                    slot.process.join(1.0)
