"""The per-camera worker: frames in; tracks, decisions, member events and footfall out.

Per frame: detect (on a scaled frame; between full scans only near where tracks are predicted:
``pipeline.geometry``), track, count footfall, and, in a face mode, look for better views of each
track's face for as long as it is in view (within a per-track embedding budget), fuse every view
embedded so far, weighted by quality, and decide on that evidence at the threshold measured for
tracks (``pipeline.decisions``; docs/architecture.md, recognition policy; docs/model-card.md).
Member alerts go to the store, or to the spool while it is away (``pipeline.alerts``). ``count``
mode never reaches the embedder.

Bystanders (privacy invariant 2): a track's chips, landmarks and embeddings exist only in this
process's memory, in its ``LiveTrack``; they are zeroed when the track is decided unknown or ends,
and nothing about an unmatched track is written, logged or counted beyond anonymous footfall. A
bystander's face is embedded at most ``max_embeds`` times over the track's life.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from consentcam.config import Settings
from consentcam.consent.context import Ledger
from consentcam.consent.gallery import SiteGallery
from consentcam.consent.pictures import expire_snapshots
from consentcam.consent.profiles import FACE_MODES
from consentcam.consent.sites import camera_source_policy
from consentcam.consent.visits import expire_held_views
from consentcam.events import claims
from consentcam.match.gallery import Identification
from consentcam.pipeline.alerts import AlertWriter
from consentcam.pipeline.camera import CameraContext, camera_context
from consentcam.pipeline.decisions import (
    ClaimCache,
    Cooldown,
    DecisionPolicy,
    LiveTrack,
    OpenClaim,
)
from consentcam.pipeline.footfall import add_footfall
from consentcam.pipeline.geometry import roi_detections, scaled_detections
from consentcam.pipeline.heartbeat import HeartbeatThread, beat_writer
from consentcam.pipeline.sources import Frame, Source, open_source
from consentcam.pipeline.spool import PendingAlert
from consentcam.store.models import Site, new_id, utcnow
from consentcam.store.outage import Outage
from consentcam.track.footfall import FootfallCounter, FootfallCounts
from consentcam.track.tracker import Tracker, TrackUpdate, make_tracker
from consentcam.vision import models
from consentcam.vision.detect import DETECTOR_MODELS, DETECTORS, Detector
from consentcam.vision.embed import EMBEDDER_MODELS, Embedder
from consentcam.vision.records import Box, ImageArray

log = logging.getLogger(__name__)

STAGES = ("decode", "detect", "track", "embed", "match", "events")


@dataclass(frozen=True, slots=True)
class TrackReport:
    """One track's outcome: its identity applies to every frame it covers."""

    track_id: int
    member_id: str | None
    frames: tuple[tuple[int, Box], ...]
    decided_at: int | None = None  # frame index of the member decision
    embeddings: int = 0  # faces of the track embedded (within the per-track budget)


@dataclass(frozen=True, slots=True)
class VideoRun:
    frames: int
    seconds: float
    stage_ms: dict[str, float]
    tracks: tuple[TrackReport, ...]
    events: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """A worker's running figures for metrics and logs: counts and timings only."""

    camera: str
    frames: int
    frames_read: int  # decoded by the source (live: frames + dropped + queue_depth)
    fps: float
    dropped: int
    reconnects: int
    queue_depth: int
    live_tracks: int
    events: int
    stage_ms: dict[str, float]


class CameraWorker:
    """Processes one camera's frames. Seams (detector, embedder, tracker, gallery, clock) are
    injectable so tests drive it with fakes."""

    def __init__(
        self,
        ledger: Ledger,
        ctx: CameraContext,
        *,
        detector: Detector | None = None,
        embedder: Embedder | None = None,
        tracker: Tracker | None = None,
        gallery: SiteGallery | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        keep_reports: bool = False,
    ) -> None:
        self.ledger = ledger
        self.ctx = ctx
        self.settings: Settings = ledger.settings
        self.p = ctx.pipeline
        vision = self.settings.vision
        self._detector = detector or DETECTORS[vision.detect.type]
        self._tracker = tracker or make_tracker(self.settings.track)
        self._face_mode = ctx.mode in FACE_MODES
        # The models load() loads: those this worker will use and was not handed. Count mode
        # has no use for the landmark model or the embedder's weights.
        self._model_loaders: list[Callable[[], object]] = []
        if detector is None:
            self._model_loaders.append(DETECTOR_MODELS[vision.detect.type])
        if self._face_mode:
            self._model_loaders.append(models.shape_predictor)
            if embedder is None:
                self._model_loaders.append(EMBEDDER_MODELS[vision.embed.type])
        self.gallery = gallery
        if self._face_mode and gallery is None:
            with ledger.store.transaction() as s:
                site = s.get(Site, ctx.site_id)
                assert site is not None
                self.gallery = SiteGallery(ledger, site)
        self._clock = clock
        self._keep_reports = keep_reports
        self._tracks: dict[int, LiveTrack] = {}
        self.policy = DecisionPolicy(
            self.p, vision, door=ctx.mode == "door", embedder=embedder, gallery=self.gallery
        )
        self._cooldown = Cooldown(self.p.cooldown_s)
        self._claim_cache = ClaimCache()
        self._footfall: FootfallCounter | None = None
        self._last_flush = time.monotonic()
        self._footfall_unsaved: dict[dt.datetime, FootfallCounts] = {}
        # The store as this worker sees it, shared by alerts, claims and footfall: one failure
        # leaves it alone until the alerts' retry thread finds it back.
        self._outage = Outage(
            log, f"camera {ctx.camera}", "alerts wait in the spool and footfall in memory"
        )
        self.frames = 0
        self.last_frame_at: dt.datetime | None = None  # wall clock, for the heartbeat
        self.reports: list[TrackReport] = []
        self.stage_s: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        # Last: a spool left by an earlier run starts its retry thread at once.
        self.alerts = AlertWriter(
            ledger,
            ctx,
            self._outage,
            keep_documents=keep_reports,
            on_store_back=self._store_back,
        )

    def load(self) -> None:
        """Load the models and the site's gallery now rather than on the first frame.

        Call it before opening a live source: a stream opened first piles up unread while the
        models load (seconds on a busy machine), and the worker starts behind. Models load once
        per process; a second call only brings the gallery up to date."""
        for load_model in self._model_loaders:
            load_model()
        if self.gallery is not None:
            self.gallery.refresh()

    # -- per frame -------------------------------------------------------------------------

    def process(self, frame: Frame) -> list[dict[str, Any]]:
        """Run one frame through the pipeline; returns the events it produced."""
        self.frames += 1
        if self._footfall is None:
            height, width = frame.image.shape[:2]
            self._footfall = FootfallCounter(self.p.footfall_line, (width, height))
        with self._timed("detect"):
            boxes = self._detections(frame.image)
        with self._timed("track"):
            update = self._tracker.update(boxes)
        emitted = self.alerts.written_meanwhile() + self._follow(frame, update, boxes)
        self._end(update.ended, frame.captured_at)
        self._maybe_flush_footfall()
        return emitted

    def finish(self, at: dt.datetime | None = None) -> None:
        """End of stream: end every track, write the remaining footfall and the spooled alerts
        (one last try if the store is away; what it cannot take stays in the spool's file)."""
        self._end(self._tracker.finish(), at or self._clock())
        self.alerts.finish()
        self._flush_footfall()

    def _detections(self, image: ImageArray) -> list[Box]:
        predicted = self._tracker.predicted()
        if (self.frames - 1) % self.p.detect_every == 0 or not predicted:
            return scaled_detections(
                image, self._detector, self.p.detect_scale, self.p.detect_upsample
            )
        return roi_detections(image, self._detector, [box for _, box in predicted])

    def _follow(self, frame: Frame, update: TrackUpdate, boxes: list[Box]) -> list[dict[str, Any]]:
        emitted: list[dict[str, Any]] = []
        assert self._footfall is not None
        for tb in update.boxes:
            track = self._tracks.get(tb.track_id)
            if track is None:
                track = self._tracks[tb.track_id] = LiveTrack(tb.track_id)
            if self._keep_reports:
                track.frames.append((frame.index, tb.box))
                if tb.detection is not None:
                    track.detected = len(track.frames)
            track.seen += 1
            if not tb.confirmed:
                continue
            track.confirmed = True
            self._footfall.observe(tb.track_id, tb.box, frame.captured_at)
            if self._face_mode and tb.detection is not None and not track.decided:
                event = self._consider(track, frame, boxes[tb.detection], tb.hits)
                if event is not None:
                    emitted.append(event)
        return emitted

    def _end(self, ended: Iterable[int], at: dt.datetime) -> None:
        for track_id in ended:
            track = self._tracks.pop(track_id, None)
            if self._footfall is not None:
                self._footfall.end(track_id, at)
            if track is None:
                continue
            track.forget_faces()
            if self._keep_reports and track.confirmed and track.detected:
                frames = tuple(track.frames[: track.detected])
                self.reports.append(
                    TrackReport(
                        track.track_id, track.member_id, frames, track.decided_at, track.embedded
                    )
                )

    # -- identification --------------------------------------------------------------------

    def _consider(
        self, track: LiveTrack, frame: Frame, box: Box, hits: int
    ) -> dict[str, Any] | None:
        """Collect this frame as a candidate view, embed the best candidate when the track's
        budget and the selection rule allow, and decide on the fused evidence once the track has
        been seen K times with enough views (the recognition policy: docs/architecture.md)."""
        if box.width < self.p.min_face_px:
            return None
        claimed = self._claims(frame.captured_at) if self.ctx.mode == "verify" else []
        if self.ctx.mode == "verify" and not claimed:
            return None  # nobody claimed: no reason to look at anyone's face
        with self._timed("embed"):
            self.policy.collect(track, frame.image, box)
            embedded = self.policy.embed_if_due(track, frame.index)
        if not embedded or not self.policy.ready(track, hits):
            self.policy.unknown_if_spent(track)
            return None
        with self._timed("match"):
            decision = self.policy.decide(track, claimed)
        if decision is None:
            self.policy.unknown_if_spent(track)
            return None
        track.decided_at = frame.index
        try:
            with self._timed("events"):
                return self._alert(
                    track,
                    decision.result,
                    decision.claim,
                    frame.captured_at,
                    decision.view,
                    decision.snapshot,
                )
        finally:
            decision.view.fill(0)
            if decision.snapshot is not None:
                decision.snapshot.fill(0)

    def _claims(self, now: dt.datetime) -> list[OpenClaim]:
        """Open claims at this camera with the claimed members' templates, re-read from the
        store at most twice a second (claims come from kiosks while the worker runs)."""
        # Not while the store is away: claims already read stay valid; new ones wait for it.
        if self._claim_cache.due() and not self._outage.down:
            self._claim_cache.read(self._open_claims(now))
        return self._claim_cache.offered(now)

    def _open_claims(self, now: dt.datetime) -> list[OpenClaim] | None:
        """The claims open at this camera now, expiring those whose time is up; None if the
        store did not answer."""
        assert self.gallery is not None
        try:
            with self.ledger.store.transaction() as s:
                claims.expire_claims(s, self.ctx.camera_id, now)
                open_now = claims.open_claims(s, self.ctx.camera_id, now)
                rows = [(c.id, c.member_id, c.expires_at) for c in open_now]
            return [
                OpenClaim(cid, mid, expires, self.gallery.member_templates(mid, now))
                for cid, mid, expires in rows
            ]
        except SQLAlchemyError as exc:
            self.alerts.store_failed(exc)
            return None

    # -- events ------------------------------------------------------------------------------

    def _alert(
        self,
        track: LiveTrack,
        result: Identification,
        claim: OpenClaim | None,
        at: dt.datetime,
        view: np.ndarray | None = None,
        snapshot: np.ndarray | None = None,
    ) -> dict[str, Any] | None:
        """The member's event (``AlertWriter.send``: written now, or spooled while the store is
        away), unless the member was alerted at this site within the cooldown. A claim is always
        answered: the member asked to be verified and staff wait for the result, so the
        cooldown (which keeps a browsing member from alerting again) does not apply to it."""
        assert result.member_id is not None
        if claim is None and self._cooldown.active(result.member_id, at):
            return None
        alert = PendingAlert(
            event_id=new_id(),
            member_id=result.member_id,
            kind="verification" if claim else "recognition",
            claim_id=claim.claim_id if claim else None,
            at=at,
            distance=round(float(result.distance or 0.0), 4),
            threshold=round(float(result.threshold), 4),
            frames=track.seen,
        )
        self._cooldown.remember(alert.member_id, at)
        if claim is not None:
            self._claim_cache.remember_verified(claim, at)
        return self.alerts.send(alert, view, snapshot)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The documents of the alerts written, with ``keep_reports`` (for reports only)."""
        return self.alerts.documents

    @property
    def event_count(self) -> int:
        return self.alerts.count

    def _store_back(self) -> None:
        """Called by the alerts' retry thread once the store is back: the footfall held
        meanwhile is written at the next frame."""
        self._last_flush = -float("inf")

    # -- footfall and timing -----------------------------------------------------------------

    def _maybe_flush_footfall(self) -> None:
        if time.monotonic() - self._last_flush >= self.p.footfall_flush_s:
            self._flush_footfall()
            if self._face_mode and not self._outage.down:
                self._expire_held_views()

    def _expire_held_views(self) -> None:
        """Delete door views held, and snapshots kept, for alerts nobody answered in time
        (``consent.visits``, ``consent.pictures``): they may show someone else."""
        try:
            with self.ledger.store.transaction() as s:
                expire_held_views(s, tenant_id=self.ctx.tenant_id)
                expire_snapshots(s, tenant_id=self.ctx.tenant_id)
        except SQLAlchemyError as exc:
            self.alerts.store_failed(exc)

    def _flush_footfall(self) -> None:
        self._last_flush = time.monotonic()
        if self._footfall is None:
            return
        for hour, counts in self._footfall.drain().items():
            held = self._footfall_unsaved.get(hour)
            self._footfall_unsaved[hour] = counts if held is None else held + counts
        # Kept in memory (a few counters per hour) while the store is away.
        if not self._footfall_unsaved or self._outage.down:
            return
        try:
            with self.ledger.store.transaction() as s:
                add_footfall(s, self.ctx.camera_id, self._footfall_unsaved)
        except SQLAlchemyError as exc:
            self.alerts.store_failed(exc)
            return
        self._footfall_unsaved = {}

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stage_s[stage] += time.perf_counter() - start

    def stage_ms(self) -> dict[str, float]:
        n = max(self.frames, 1)
        return {k: round(v * 1000 / n, 3) for k, v in self.stage_s.items()}

    @property
    def live_tracks(self) -> int:
        return len(self._tracks)

    def heartbeat(self, source: Source) -> HeartbeatThread:
        """The camera's heartbeat over this worker's counters and ``source``'s: written only
        while the store answers, a failure handled like any other store call of the worker
        (the outage; the alerts' retry thread finds the store back)."""

        def sample() -> tuple[int, int, int, dt.datetime | None, str | None]:
            stats = source.stats()
            return (
                self.frames,
                stats.frames_dropped,
                stats.reconnects,
                self.last_frame_at,
                stats.last_error,
            )

        return HeartbeatThread(
            beat_writer(self.ledger.store, self.ctx.camera_id),
            sample,
            interval_s=self.settings.pipeline.heartbeat_s,
            store_ok=lambda: not self._outage.down,
            failed=self.alerts.store_failed,
        )


# -- running a camera ----------------------------------------------------------------------------


def run_camera(
    worker: CameraWorker,
    source: Source,
    *,
    stop: threading.Event | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_stats: Callable[[WorkerStats], None] | None = None,
    on_frame: Callable[[int], None] | None = None,
    stats_every_s: float = 1.0,
    heartbeat: bool = False,
) -> None:
    """Feed ``source`` through ``worker`` until the source ends or ``stop`` is set, keeping the
    gallery current in the background; with ``heartbeat``, the camera's health is written to
    the store every ``pipeline.heartbeat_s`` (``pipeline.heartbeat``)."""
    stop = stop or threading.Event()
    worker.load()  # before the first frame (the gallery not left to the watcher's first poll)
    watching = worker.gallery.watch() if worker.gallery is not None else nullcontext()
    beating = worker.heartbeat(source).running() if heartbeat else nullcontext()
    started = last_stats = time.monotonic()
    with watching, beating, _closed_on(stop, source):
        frames = iter(source.frames())
        while not stop.is_set():
            t0 = time.perf_counter()
            frame = next(frames, None)
            worker.stage_s["decode"] += time.perf_counter() - t0
            if frame is None:
                break
            worker.last_frame_at = utcnow()
            for event in worker.process(frame):
                if on_event:
                    on_event(event)
            if on_frame:
                on_frame(worker.frames)
            now = time.monotonic()
            if on_stats and now - last_stats >= stats_every_s:
                on_stats(worker_stats(worker, source, now - started))
                last_stats = now
        worker.finish()
    if on_stats:
        on_stats(worker_stats(worker, source, time.monotonic() - started))


@contextmanager
def _closed_on(stop: threading.Event, source: Source) -> Iterator[None]:
    """Close a live source as soon as ``stop`` is set: a stream that is down blocks the frame
    loop in the source, where checking ``stop`` between frames would never happen."""
    if not source.live:
        yield
        return
    done = threading.Event()

    def close_when_stopped() -> None:
        while not done.is_set():
            if stop.wait(0.2):
                source.close()
                return

    thread = threading.Thread(target=close_when_stopped, name="source-closer", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


def worker_stats(worker: CameraWorker, source: Source, elapsed_s: float) -> WorkerStats:
    stats = source.stats()
    return WorkerStats(
        camera=worker.ctx.camera,
        frames=worker.frames,
        frames_read=stats.frames_read,
        fps=round(worker.frames / elapsed_s, 2) if elapsed_s > 0 else 0.0,
        dropped=stats.frames_dropped,
        reconnects=stats.reconnects,
        queue_depth=stats.queue_depth,
        live_tracks=worker.live_tracks,
        events=worker.event_count,
        stage_ms=worker.stage_ms(),
    )


def process_video(
    ledger: Ledger,
    camera: str,
    *,
    settings: Settings | None = None,
    site: str | None = None,
    source: Source | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> VideoRun:
    """Run a camera's (file) source to its end and report every track; for benchmarks, tests
    and ``watch`` on recordings."""
    if settings is not None and settings is not ledger.settings:
        ledger = Ledger(ledger.store, ledger.keys, ledger.actor, settings)
    ctx = camera_context(ledger, camera, site)
    worker = CameraWorker(ledger, ctx, keep_reports=True)
    worker.load()  # before a live source opens (see CameraWorker.load)
    src = source or open_source(
        ctx.source, ctx.camera, ledger.settings.source, policy=camera_source_policy(ledger.settings)
    )
    started = time.perf_counter()
    try:
        run_camera(worker, src, on_frame=on_frame)
    finally:
        src.close()
    seconds = time.perf_counter() - started
    return VideoRun(
        frames=worker.frames,
        seconds=round(seconds, 3),
        stage_ms=worker.stage_ms(),
        tracks=tuple(sorted(worker.reports, key=lambda r: r.track_id)),
        events=tuple(worker.events),
    )
