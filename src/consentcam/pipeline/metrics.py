"""Prometheus metrics for ``consentcam run``: frame rate, per-stage latency, drops, queue depth,
reconnects and worker restarts per camera, and door alerts staff confirmed and dismissed per
site. Only counts and timings: nothing about any face or person (privacy invariant 2 covers
metrics too).

Frame accounting: a live source's frames read = processed + dropped + queue depth. Frames the
camera sent that the reader never decoded are in none of these (see DROPPED_HELP)."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy.exc import SQLAlchemyError

from consentcam.consent.context import Ledger
from consentcam.events.accuracy import answer_counts
from consentcam.pipeline.worker import WorkerStats
from consentcam.store.outage import Outage

log = logging.getLogger(__name__)

# Precise about what is missing, so that a low drop count is not read as "no overload".
DROPPED_HELP = (
    "Frames decoded from the source but never processed: in a live source, replaced in its "
    "one-slot buffer by a newer frame while the worker was busy; in an image folder, "
    "unreadable images. Not counted, because the worker never sees them: frames the camera "
    "skipped or the network lost while the reader itself fell behind the stream, and frames "
    "the camera produced while the source was reconnecting. MJPEG over HTTP carries no frame "
    "numbers or capture times (FFmpeg numbers its frames as they arrive), so those cannot be "
    "counted; RTSP timestamps are not used to guess them either (variable-rate cameras leave "
    "gaps by design). They show as a rate of consentcam_camera_source_frames_total below the "
    "camera's own frame rate"
)
SOURCE_FRAMES_HELP = (
    "Frames decoded from the camera's source (live sources: processed + dropped + waiting in "
    "the buffer; image folders: readable images)"
)


class WorkerMetrics(Collector):
    """Holds each camera's latest figures (sent by its worker process) and renders them."""

    def __init__(self) -> None:
        self._latest: dict[str, WorkerStats] = {}
        self._restarts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, stats: WorkerStats) -> None:
        with self._lock:
            self._latest[stats.camera] = stats

    def restarted(self, camera: str) -> None:
        with self._lock:
            self._restarts[camera] += 1

    def restarts(self, camera: str) -> int:
        with self._lock:
            return self._restarts[camera]

    def collect(self) -> Iterator[Any]:
        with self._lock:
            latest = dict(self._latest)
            restarts = dict(self._restarts)
        gauges = {
            "fps": GaugeMetricFamily(
                "consentcam_camera_fps", "Frames processed per second", labels=["camera"]
            ),
            "queue": GaugeMetricFamily(
                "consentcam_camera_queue_depth",
                "Frames waiting between source and worker (live sources keep at most one)",
                labels=["camera"],
            ),
            "tracks": GaugeMetricFamily(
                "consentcam_camera_live_tracks", "Faces being tracked now", labels=["camera"]
            ),
        }
        counters = {
            "frames": CounterMetricFamily(
                "consentcam_camera_frames", "Frames processed", labels=["camera"]
            ),
            "read": CounterMetricFamily(
                "consentcam_camera_source_frames", SOURCE_FRAMES_HELP, labels=["camera"]
            ),
            "dropped": CounterMetricFamily(
                "consentcam_camera_dropped_frames", DROPPED_HELP, labels=["camera"]
            ),
            "reconnects": CounterMetricFamily(
                "consentcam_camera_reconnects", "Source reconnections", labels=["camera"]
            ),
            "events": CounterMetricFamily(
                "consentcam_camera_events", "Member events written", labels=["camera"]
            ),
        }
        stage = GaugeMetricFamily(
            "consentcam_stage_latency_ms",
            "Mean time per frame spent in each pipeline stage, in milliseconds",
            labels=["camera", "stage"],
        )
        restart = CounterMetricFamily(
            "consentcam_worker_restarts", "Camera worker processes restarted", labels=["camera"]
        )
        for camera, s in sorted(latest.items()):
            gauges["fps"].add_metric([camera], s.fps)
            gauges["queue"].add_metric([camera], s.queue_depth)
            gauges["tracks"].add_metric([camera], s.live_tracks)
            counters["frames"].add_metric([camera], s.frames)
            counters["read"].add_metric([camera], s.frames_read)
            counters["dropped"].add_metric([camera], s.dropped)
            counters["reconnects"].add_metric([camera], s.reconnects)
            counters["events"].add_metric([camera], s.events)
            for name, ms in s.stage_ms.items():
                stage.add_metric([camera, name], ms)
        for camera, n in sorted(restarts.items()):
            restart.add_metric([camera], n)
        yield from gauges.values()
        yield from counters.values()
        yield stage
        yield restart


class AnswerMetrics(Collector):
    """Door alerts staff confirmed and dismissed per site, counted in the store at each scrape:
    staff answer through the API, in another process, so no worker sees them. A retention purge
    deletes old events and lowers the counts, which Prometheus reads as a counter reset; the
    dismissed share over a window is ``rate(dismissed) / (rate(confirmed) + rate(dismissed))``.
    A store outage leaves them out of the scrape (the cameras' figures still come)."""

    def __init__(self, ledger: Ledger, site_name: str | None = None) -> None:
        """Every site of the store, or ``site_name`` (as ``consentcam run --site``)."""
        self._ledger = ledger
        self._site_name = site_name
        self._outage = Outage(log, "answer metrics", "they are left out of the scrape")

    def collect(self) -> Iterator[Any]:
        try:
            sites = answer_counts(self._ledger, self._site_name)
        except SQLAlchemyError as exc:
            self._outage.failed(exc)
            return
        self._outage.succeeded()
        labels = ["tenant", "site"]
        confirmed = CounterMetricFamily(
            "consentcam_door_alerts_confirmed",
            "Door alerts staff confirmed (it was the member), of the events still stored",
            labels=labels,
        )
        dismissed = CounterMetricFamily(
            "consentcam_door_alerts_dismissed",
            "Door alerts staff dismissed (it was not the member), of the events still stored",
            labels=labels,
        )
        for row in sites:
            confirmed.add_metric([row.tenant, row.site], row.confirmed)
            dismissed.add_metric([row.tenant, row.site], row.dismissed)
        yield confirmed
        yield dismissed


def metrics_registry(metrics: WorkerMetrics, *more: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    for collector in (metrics, *more):
        registry.register(collector)
    return registry


def serve_metrics(
    metrics: WorkerMetrics, port: int, host: str = "127.0.0.1", *more: Collector
) -> Any:
    """Expose the metrics (and ``more`` collectors) over HTTP at /metrics; returns the server
    (call .shutdown())."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host, registry=metrics_registry(metrics, *more))
    return server
