"""Prometheus metrics for ``consentcam run``: frame rate, per-stage latency, drops, queue depth,
reconnects and worker restarts per camera. Only counts and timings: nothing about any face or
person (privacy invariant 2 covers metrics too)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from consentcam.pipeline.worker import WorkerStats


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
            "dropped": CounterMetricFamily(
                "consentcam_camera_dropped_frames",
                "Frames skipped to stay on the latest frame",
                labels=["camera"],
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


def metrics_registry(metrics: WorkerMetrics) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    return registry


def serve_metrics(metrics: WorkerMetrics, port: int, host: str = "127.0.0.1") -> Any:
    """Expose the metrics over HTTP at /metrics; returns the server (call .shutdown())."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host, registry=metrics_registry(metrics))
    return server
