"""The per-camera worker: frames in; tracks, decisions, member events and footfall out.

Per frame: detect (on a scaled frame; between full scans only near where tracks are predicted),
track, count footfall, and, in a face mode, look for better views of each track's face for as
long as it is in view (within a per-track embedding budget), fuse every view embedded so far,
weighted by quality, and decide on that evidence at the threshold measured for tracks (DESIGN.md,
recognition policy; docs/model-card.md). ``count`` mode never reaches the embedder.

Bystanders (privacy invariant 2): a track's chips, landmarks and embeddings exist only in this
process's memory, in ``_Track``; they are zeroed when the track is decided unknown or ends, and
nothing about an unmatched track is written, logged or counted beyond anonymous footfall. A
bystander's face is embedded at most ``max_embeds`` times over the track's life.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from consentcam.audit import chain
from consentcam.config import PipelineSettings, Settings
from consentcam.consent.context import Ledger, camera_by_ref
from consentcam.consent.gallery import SiteGallery
from consentcam.consent.profiles import FACE_MODES, profile
from consentcam.consent.purchases import purchase_summary
from consentcam.consent.sites import camera_source, camera_source_policy
from consentcam.errors import ConfigError, PolicyError
from consentcam.match.gallery import Identification
from consentcam.match.scores import fused_template
from consentcam.pipeline import claims
from consentcam.pipeline.sources import Frame, Source, open_source
from consentcam.pipeline.spool import AlertSpool, PendingAlert
from consentcam.store.models import Camera, Event, Member, Site, new_id, utcnow
from consentcam.store.outage import Outage
from consentcam.track.footfall import FootfallCounter, FootfallCounts, add_footfall
from consentcam.track.tracker import Tracker, TrackUpdate, make_tracker
from consentcam.vision import models
from consentcam.vision.align import (
    CHIP_PADDING,
    face_chip,
    face_landmarks,
    face_picture,
    picture_jpeg,
)
from consentcam.vision.detect import DETECTOR_MODELS, DETECTORS, Detector
from consentcam.vision.embed import EMBEDDER_MODELS, Embedder, fused_embeddings
from consentcam.vision.quality import face_quality
from consentcam.vision.records import Box, ImageArray

log = logging.getLogger(__name__)

STAGES = ("decode", "detect", "track", "embed", "match", "events")
ALERT_KINDS = ("recognition", "verification")
# ROI search between full scans: the region around a predicted box, and the face width the crop
# is scaled to (HOG finds faces from about 80 px).
ROI_MARGIN = 0.5
ROI_FACE_PX = 90.0
# While the store is away the frame loop leaves it alone (a silent server makes every attempt
# wait out the connect timeout, seconds per frame); a background thread tries it this often.
STORE_RETRY_S = 1.0


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


@dataclass(frozen=True, slots=True)
class CameraContext:
    """What a worker needs to know about its camera, read once from the store."""

    camera_id: str
    camera: str
    source: str
    mode: str
    site_id: str
    site: str
    tenant_id: str
    jurisdiction: str
    pipeline: PipelineSettings


def camera_context(ledger: Ledger, camera_ref: str, site_name: str | None = None) -> CameraContext:
    """Load a camera and refuse to run it unless its site's profile allows its mode and, for a
    face mode, its signage is attested (privacy invariant 7: no covert operation)."""
    with ledger.store.transaction() as s:
        camera = camera_by_ref(s, camera_ref, site_name, ledger.tenant_id(s))
        site = s.get(Site, camera.site_id)
        assert site is not None  # foreign key
        check_lawful(camera, site)
        return CameraContext(
            camera_id=camera.id,
            camera=camera.name,
            source=camera_source(ledger.keys, camera, site.tenant_id),
            mode=camera.mode,
            site_id=site.id,
            site=site.name,
            tenant_id=site.tenant_id,
            jurisdiction=site.jurisdiction,
            pipeline=camera_pipeline(ledger.settings.pipeline, camera.config),
        )


def check_lawful(camera: Camera, site: Site) -> None:
    rules = profile(site.jurisdiction)
    if camera.mode not in rules.allowed_modes:
        raise PolicyError(
            f"camera {camera.name!r}: mode {camera.mode!r} is not allowed under the "
            f"{site.jurisdiction} profile ({rules.name})"
        )
    if camera.mode in FACE_MODES and not camera.signage_attested:
        raise PolicyError(
            f"camera {camera.name!r}: mode {camera.mode!r} recognises faces and needs signage "
            "attestation; it will not start without it"
        )


def camera_pipeline(defaults: PipelineSettings, overrides: dict[str, Any]) -> PipelineSettings:
    """The pipeline settings with a camera's own overrides (its counting line, scale, ...)."""
    try:
        return PipelineSettings.model_validate({**defaults.model_dump(), **overrides})
    except ValueError as exc:
        raise ConfigError(f"invalid camera setting: {exc}") from None


@dataclass(slots=True)
class _Track:
    """A live track's working state. Face data here never leaves memory (see module doc)."""

    track_id: int
    frames: list[tuple[int, Box]] = field(default_factory=list)  # kept for reports only
    seen: int = 0
    confirmed: bool = False
    detected: int = 0  # len(frames) at the last matched detection: reports drop the coasting tail
    embeddings: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # quality score of each embedding
    candidate: np.ndarray | None = None  # best chip views since the last embedding
    candidate_score: float = 0.0
    # Door mode: the candidate's face as staff would see it, and the best embedded view's
    # (a member alert's snapshot, where the member consented to pictures; zeroed otherwise).
    candidate_picture: np.ndarray | None = None
    snapshot: np.ndarray | None = None
    best_score: float = 0.0  # the best quality score embedded so far
    last_embed: int = -(10**9)
    next_look: int = 0  # frame index of the next periodic look
    look_every: float = 0.0  # frames until the one after (grows after each look)
    embedded: int = 0  # faces embedded so far: the per-track budget, and reports
    decided: bool = False
    member_id: str | None = None
    decided_at: int | None = None  # frame index of the member decision, for reports

    def forget_faces(self) -> None:
        """Zero and drop every chip and embedding (the arrays may be shared with no one else,
        but zeroing makes sure no copy of a bystander's face outlives the decision)."""
        for vector in self.embeddings:
            vector.fill(0)
        self.embeddings.clear()
        self.scores.clear()
        for array in (self.candidate, self.candidate_picture, self.snapshot):
            if array is not None:
                array.fill(0)
        self.candidate = self.candidate_picture = self.snapshot = None

    def taken_snapshot(self) -> np.ndarray | None:
        """The snapshot, handed over (the track no longer holds it; the caller zeroes it)."""
        snapshot, self.snapshot = self.snapshot, None
        return snapshot
        self.candidate_score = 0.0


@dataclass(frozen=True, slots=True)
class _OpenClaim:
    """Verify mode: a claim waiting at this camera, with the claimed member's templates."""

    claim_id: str
    member_id: str
    expires_at: dt.datetime
    templates: np.ndarray


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
        self._embedder = embedder
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
        self._tracks: dict[int, _Track] = {}
        self._footfall: FootfallCounter | None = None
        self._last_flush = time.monotonic()
        self._claim_cache: tuple[float, list[_OpenClaim]] = (-1.0, [])
        # Claims verified here -> their expiry: the row stays open while the alert waits in the
        # spool. Kept only until the claim expires, when the store stops offering it anyway.
        self._resolved: dict[str, dt.datetime] = {}
        self._cooldown: dict[str, dt.datetime] = {}
        spool_file = self.settings.data_dir / "spool" / f"{ctx.camera_id}.jsonl"
        self._spool = AlertSpool(spool_file)
        self._spool.load()
        self._outage = Outage(
            log, f"camera {ctx.camera}", "alerts wait in the spool and footfall in memory"
        )
        # Guards the choice between writing an alert and spooling it, and the retry thread's
        # decision to stop once the spool is empty: no alert overtakes one spooled before it.
        self._lock = threading.Lock()
        # The thread writing the spool while it holds anything (None: the frame loop writes).
        self._retrying: tuple[threading.Thread, threading.Event] | None = None
        self._written: list[dict[str, Any]] = []  # by the retry thread, for the frame loop
        self._retry_error: Exception | None = None  # not an outage: raised in the frame loop
        self._footfall_unsaved: dict[dt.datetime, FootfallCounts] = {}
        self.frames = 0
        self.events: list[dict[str, Any]] = []  # kept for reports only
        self.event_count = 0
        self.reports: list[TrackReport] = []
        self.stage_s: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        if len(self._spool):  # left by a run that stopped during an outage
            with self._lock:
                self._start_retrying()

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
        emitted = self._written_meanwhile() + self._follow(frame, update, boxes)
        self._end(update.ended, frame.captured_at)
        self._maybe_flush_footfall()
        return emitted

    def finish(self, at: dt.datetime | None = None) -> None:
        """End of stream: end every track, write the remaining footfall and the spooled alerts
        (one last try if the store is away; what it cannot take stays in the spool's file)."""
        self._end(self._tracker.finish(), at or self._clock())
        self._stop_retrying()
        if self._outage.down or len(self._spool):
            self._spool_written()
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
                track = self._tracks[tb.track_id] = _Track(tb.track_id)
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

    def _consider(self, track: _Track, frame: Frame, box: Box, hits: int) -> dict[str, Any] | None:
        """Collect this frame as a candidate view, embed the best candidate when the track's
        budget and the selection rule allow, and decide on the fused evidence once the track has
        been seen K times with enough views (the recognition policy: DESIGN.md)."""
        if box.width < self.p.min_face_px:
            return None
        claimed = self._claims(frame.captured_at) if self.ctx.mode == "verify" else []
        if self.ctx.mode == "verify" and not claimed:
            return None  # nobody claimed: no reason to look at anyone's face
        with self._timed("embed"):
            self._collect(track, frame.image, box)
            embedded = self._embed_if_due(track, frame.index)
        if not embedded or hits < self.p.min_consistent or len(track.embeddings) < self.p.min_views:
            self._unknown_if_spent(track)
            return None
        with self._timed("match"):
            decision = self._decide(track, claimed)
        if decision is None:
            self._unknown_if_spent(track)
            return None
        track.decided_at = frame.index
        result, claim, view, snapshot = decision
        try:
            with self._timed("events"):
                return self._alert(track, result, claim, frame.captured_at, view, snapshot)
        finally:
            view.fill(0)
            if snapshot is not None:
                snapshot.fill(0)

    def _collect(self, track: _Track, image: ImageArray, box: Box) -> None:
        landmarks = face_landmarks(image, box)
        chip = face_chip(image, box, landmarks)
        quality = face_quality(box, landmarks, chip, self.settings.vision.quality)
        score = candidate_score(box, quality.sharpness, quality.yaw, quality.roll_deg)
        if score <= track.candidate_score:
            chip.fill(0)
            return
        views = [chip] + [
            face_chip(image, box, landmarks, pad)
            for pad in self.settings.vision.embed.paddings
            if pad != CHIP_PADDING
        ]
        if CHIP_PADDING not in self.settings.vision.embed.paddings:
            views = views[1:]
            chip.fill(0)
        if track.candidate is not None:
            track.candidate.fill(0)
        track.candidate = np.stack(views)
        track.candidate_score = score
        if self.ctx.mode == "door":
            if track.candidate_picture is not None:
                track.candidate_picture.fill(0)
            track.candidate_picture = face_picture(image, box, landmarks)

    def _embed_if_due(self, track: _Track, frame_index: int) -> bool:
        """Embed the track's best candidate since the last embedding if the budget has room (at
        most ``max_embeds`` over the track's life, one per ``embed_gap`` frames) and it is worth
        a look: the first view, a view clearly better than any embedded (``embed_gain``), or a
        periodic look (``look_every`` frames, growing by ``look_backoff``). A clearly better
        view (the person turned to the camera) starts the looks afresh. True if it did."""
        p = self.p
        if track.candidate is None or track.embedded >= p.max_embeds:
            return False
        if frame_index - track.last_embed < p.embed_gap:
            return False
        first = not track.embedded
        better = track.candidate_score >= p.embed_gain * track.best_score
        look = frame_index >= track.next_look
        if not (first or better or look):
            return False
        track.look_every = p.look_every if first or better else track.look_every * p.look_backoff
        track.next_look = frame_index + round(track.look_every)
        vector = fused_embeddings(
            track.candidate[None], self.settings.vision.embed, self._embedder
        )[0]
        track.candidate.fill(0)
        track.candidate = None
        picture, track.candidate_picture = track.candidate_picture, None
        if picture is not None and track.candidate_score >= track.best_score:
            if track.snapshot is not None:
                track.snapshot.fill(0)
            track.snapshot, picture = picture, None
        if picture is not None:
            picture.fill(0)
        track.embeddings.append(vector)
        track.scores.append(track.candidate_score)
        track.best_score = max(track.best_score, track.candidate_score)
        track.candidate_score = 0.0
        track.embedded += 1
        track.last_embed = frame_index
        return True

    def _unknown_if_spent(self, track: _Track) -> None:
        """A track that has spent its embedding budget without a decision is unknown for good:
        its faces are zeroed now, not at the end of the track."""
        if track.embedded >= self.p.max_embeds and not track.decided:
            track.decided = True
            track.forget_faces()

    def _decide(
        self, track: _Track, claimed: list[_OpenClaim]
    ) -> tuple[Identification, _OpenClaim | None, np.ndarray, np.ndarray | None] | None:
        """(identification, verified claim, fused view, snapshot) once the fusion of every view
        embedded so far, weighted by quality score (a turned or blurred view counts less),
        matches and no single view points at someone else; None to keep looking. The fused view
        of a member's track may become a visit template (``consent.visits``) and the snapshot
        (door mode: the best view's picture) may be kept for staff (``consent.pictures``): the
        caller zeroes both once the alert is written."""
        assert self.gallery is not None
        fused = fused_template(np.stack(track.embeddings), track.scores)
        if claimed:
            result, claim = self._verify(fused, claimed)
        else:
            result, claim = self.gallery.identify(fused, views=len(track.embeddings)), None
            if result.member_id is not None:
                others = {self.gallery.identify(e).member_id for e in track.embeddings}
                if others - {result.member_id, None}:
                    result = Identification(None, result.distance, result.threshold, 0)
        if result.member_id is None:
            fused.fill(0)
            return None
        track.decided, track.member_id = True, result.member_id
        snapshot = track.taken_snapshot()
        track.forget_faces()
        return result, claim, fused, snapshot

    def _verify(
        self, fused: np.ndarray, claimed: list[_OpenClaim]
    ) -> tuple[Identification, _OpenClaim | None]:
        assert self.gallery is not None
        best = Identification(None, None, 0.0, 0)
        for claim in claimed:
            result = self.gallery.verify(fused, claim.member_id, claim.templates)
            if result.member_id is not None:
                return result, claim
            if best.distance is None or (
                result.distance is not None and result.distance < best.distance
            ):
                best = result
        return best, None

    def _claims(self, now: dt.datetime) -> list[_OpenClaim]:
        """Open claims at this camera with the claimed members' templates, re-read from the
        store at most twice a second (claims come from kiosks while the worker runs)."""
        read_at, known = self._claim_cache
        # Not while the store is away: claims already read stay valid; new ones wait for it.
        if time.monotonic() - read_at >= 0.5 and not self._outage.down:
            assert self.gallery is not None
            try:
                with self.ledger.store.transaction() as s:
                    claims.expire_claims(s, self.ctx.camera_id, now)
                    open_now = claims.open_claims(s, self.ctx.camera_id, now)
                    rows = [(c.id, c.member_id, c.expires_at) for c in open_now]
                known = [
                    _OpenClaim(cid, mid, expires, self.gallery.member_templates(mid, now))
                    for cid, mid, expires in rows
                ]
            except SQLAlchemyError as exc:
                self._store_failed(exc)
            self._claim_cache = (time.monotonic(), known)
        # Expiry is checked here too: a claim read before the store went away ends on time.
        return [c for c in known if c.expires_at > now and c.claim_id not in self._resolved]

    # -- events ------------------------------------------------------------------------------

    def _alert(
        self,
        track: _Track,
        result: Identification,
        claim: _OpenClaim | None,
        at: dt.datetime,
        view: np.ndarray | None = None,
        snapshot: np.ndarray | None = None,
    ) -> dict[str, Any] | None:
        """The member's event, written with its outbox and audit entries in one transaction,
        unless the member was alerted at this site within the cooldown. A claim is always
        answered: the member asked to be verified and staff wait for the result, so the
        cooldown (which keeps a browsing member from alerting again) does not apply to it. With
        the store unreachable the alert waits in the on-disk spool, behind any alert spooled
        before it, and the retry thread writes it when the store is back. ``view`` (the track's
        fused face) and ``snapshot`` (its best picture) go with an alert written now, never into
        the spool's file."""
        assert result.member_id is not None
        if claim is None and self._cooldown_active(result.member_id, at):
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
        self._remember_alert(alert.member_id, at)
        if claim is not None:
            self._remember_claim(claim, at)
        with self._lock:
            queued = self._retrying is not None
            if queued:
                self._spool.put(alert)
        if queued:
            return None
        try:
            return self._write_alert(alert, view, snapshot)
        except SQLAlchemyError as exc:
            self._spool.put(alert)
            self._store_failed(exc)
            return None

    def _write_alert(
        self,
        alert: PendingAlert,
        view: np.ndarray | None = None,
        snapshot: np.ndarray | None = None,
    ) -> dict[str, Any] | None:
        from consentcam.consent.pictures import (
            has_portrait,
            keep_snapshot,
            picture_links,
            portrait_consent,
        )
        from consentcam.consent.visits import add_visit_template, hold_view
        from consentcam.events.outbox import event_document, record_event

        with self.ledger.store.transaction() as s:
            if s.get(Event, alert.event_id) is not None:
                return None  # written before the connection dropped: at least once, not twice
            if alert.claim_id is not None:
                claims.resolve_claim(s, alert.claim_id, claims.VERIFIED, alert.at)
            if alert.claim_id is None and self._recent_alert(s, alert.member_id, alert.at):
                return None
            member = s.get(Member, alert.member_id)
            if member is None:  # withdrawn and erased since the gallery's last refresh
                return None
            member.last_interaction_at = alert.at
            door = self.ctx.mode == "door"
            # Pictures for staff to check the alert with, only where the member consented.
            pictures = door and portrait_consent(s, member) is not None
            payload = {
                "camera": self.ctx.camera,
                "site": self.ctx.site,
                "mode": self.ctx.mode,
                "member": {"id": member.id, "name": member.name, "profile": member.profile},
                "distance": alert.distance,
                "threshold": alert.threshold,
                "frames": alert.frames,
                "purchases": purchase_summary(s, member.id, alert.at),
                # Door mode (DESIGN.md): nothing beyond a greeting until staff confirm.
                "allowed_actions": ["greet"] if door else ["greet", "assist"],
                "confirmation": "required" if door else "not_required",
                # Links, never images: they need the caller's credentials (streams, webhooks).
                "pictures": picture_links(
                    member.id,
                    alert.event_id,
                    portrait=pictures and has_portrait(s, member.id),
                    snapshot=pictures and snapshot is not None,
                ),
            }
            event = record_event(
                s,
                tenant_id=self.ctx.tenant_id,
                site_id=self.ctx.site_id,
                camera_id=self.ctx.camera_id,
                member_id=member.id,
                kind=alert.kind,
                payload=payload,
                at=alert.at,
                status="pending" if door else None,
                event_id=alert.event_id,
            )
            chain.append(
                s,
                actor=f"camera:{self.ctx.camera}",
                action=f"{alert.kind}.alert",
                subject=member.id,
                details={
                    "event_id": event.id,
                    "camera": self.ctx.camera,
                    "distance": alert.distance,
                    "threshold": alert.threshold,
                    "profile_shown": True,
                    "snapshot_kept": pictures and snapshot is not None,
                },
                tenant_id=self.ctx.tenant_id,
            )
            s.flush()
            if pictures and snapshot is not None:
                keep_snapshot(s, self.ledger.keys, member, event.id, picture_jpeg(snapshot))
            if view is not None and door:
                hold_view(s, self.ledger.keys, event, view, {"views": alert.frames})
            elif view is not None and alert.claim_id is not None:
                add_visit_template(
                    s, self.ledger.keys, member, view, event_id=event.id,
                    actor=f"camera:{self.ctx.camera}",
                )  # fmt: skip
            document = event_document(_outbox_seq(s, event.id), event)
        self.event_count += 1
        if self._keep_reports:
            self.events.append(document)
        return document

    # -- the store away ------------------------------------------------------------------------

    def _store_failed(self, error: SQLAlchemyError) -> None:
        """A store call from the frame loop failed: until the store is back the frame loop
        spools alerts, holds footfall and keeps the claims it has without calling the store
        (a silent server makes each call wait out the connect timeout), and the retry thread
        tries it once a second."""
        self._outage.failed(error)
        with self._lock:
            if self._retrying is None:
                self._start_retrying()

    def _start_retrying(self) -> None:
        """Start the retry thread (with ``_lock`` held)."""
        stop = threading.Event()
        thread = threading.Thread(
            target=self._retry_until_written,
            args=(stop,),
            name=f"store-retry-{self.ctx.camera}",
            daemon=True,
        )
        self._retrying = (thread, stop)
        thread.start()

    def _retry_until_written(self, stop: threading.Event) -> None:
        try:
            while not stop.wait(STORE_RETRY_S):
                if self._spool_written():
                    return
        except Exception as exc:
            # A bug rather than an outage: it stops the worker from the frame loop, as it would
            # have there, instead of ending this thread unseen with alerts queued behind it.
            with self._lock:
                self._retry_error = exc

    def _stop_retrying(self) -> None:
        with self._lock:
            retrying = self._retrying
        if retrying is not None:
            thread, stop = retrying
            stop.set()
            thread.join()
            with self._lock:
                self._retrying = None

    def _spool_written(self) -> bool:
        """One try at ending an outage: the store answers and the spooled alerts are written,
        oldest first; once the spool is empty the frame loop writes again (decided under the
        lock that new alerts take to join the spool). False if the store is still away."""
        try:
            with self.ledger.store.transaction() as s:
                s.execute(select(1))  # an answer, even with nothing spooled
            while True:
                self._write_spooled()
                with self._lock:
                    if not len(self._spool):
                        self._retrying = None
                        self._outage.succeeded()
                        break
        except SQLAlchemyError as exc:
            self._outage.failed(exc)
            return False
        self._last_flush = -float("inf")  # footfall held meanwhile: written at the next frame
        return True

    def _write_spooled(self) -> None:
        """Write the spooled alerts, oldest first; each leaves the spool once written, and its
        document waits for the frame loop to pass it on (``_written_meanwhile``)."""
        for alert in self._spool.pending():
            document = self._write_alert(alert)
            self._spool.done(alert.event_id)
            if document is not None:
                with self._lock:
                    self._written.append(document)

    def _written_meanwhile(self) -> list[dict[str, Any]]:
        with self._lock:
            written, self._written = self._written, []
            error, self._retry_error = self._retry_error, None
        if error is not None:
            raise error
        return written

    def _cooldown_active(self, member_id: str, at: dt.datetime) -> bool:
        since = at - dt.timedelta(seconds=self.p.cooldown_s)
        return self._cooldown.get(member_id, since - dt.timedelta(seconds=1)) >= since

    def _remember_alert(self, member_id: str, at: dt.datetime) -> None:
        since = at - dt.timedelta(seconds=self.p.cooldown_s)
        self._cooldown = {m: t for m, t in self._cooldown.items() if t >= since}
        self._cooldown[member_id] = at

    def _remember_claim(self, claim: _OpenClaim, at: dt.datetime) -> None:
        """Stop offering a verified claim, and forget those past their expiry: the store no
        longer returns them as open, so remembering them would only grow the set."""
        self._resolved = {c: expiry for c, expiry in self._resolved.items() if expiry > at}
        self._resolved[claim.claim_id] = claim.expires_at
        self._claim_cache = (-1.0, self._claim_cache[1])  # re-read at the next face

    def _recent_alert(self, s: Any, member_id: str, at: dt.datetime) -> bool:
        """Whether another worker of the site alerted for the member within the cooldown of
        ``at``, before or after it. Bounded on both sides: an alert written late (from the
        spool, after an outage) is a duplicate only of alerts of the same visit, not of every
        alert since."""
        cooldown = dt.timedelta(seconds=self.p.cooldown_s)
        recent = s.execute(
            select(Event.id)
            .where(
                Event.site_id == self.ctx.site_id,
                Event.member_id == member_id,
                Event.kind.in_(ALERT_KINDS),
                Event.at >= at - cooldown,
                Event.at <= at + cooldown,
            )
            .limit(1)
        ).first()
        return recent is not None

    # -- footfall and timing -----------------------------------------------------------------

    def _maybe_flush_footfall(self) -> None:
        if time.monotonic() - self._last_flush >= self.p.footfall_flush_s:
            self._flush_footfall()
            if self._face_mode and not self._outage.down:
                self._expire_held_views()

    def _expire_held_views(self) -> None:
        """Delete door views held, and snapshots kept, for alerts nobody answered in time
        (``consent.visits``, ``consent.pictures``): they may show someone else."""
        from consentcam.consent.pictures import expire_snapshots
        from consentcam.consent.visits import expire_held_views

        try:
            with self.ledger.store.transaction() as s:
                expire_held_views(s, tenant_id=self.ctx.tenant_id)
                expire_snapshots(s, tenant_id=self.ctx.tenant_id)
        except SQLAlchemyError as exc:
            self._store_failed(exc)

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
            self._store_failed(exc)
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


def _outbox_seq(s: Any, event_id: str) -> int:
    from consentcam.store.models import OutboxEntry

    return int(
        s.execute(select(OutboxEntry.seq).where(OutboxEntry.event_id == event_id)).scalar_one()
    )


def candidate_score(box: Box, sharpness: float, yaw: float, roll_deg: float) -> float:
    """How good a frame is for embedding: bigger, sharper, more frontal faces first."""
    size = min(box.width, 200) / 200
    sharp = min(sharpness / 100.0, 1.0)
    frontal = max(0.0, 1.0 - abs(yaw) / 0.5) * max(0.0, 1.0 - abs(roll_deg) / 45.0)
    return size * (0.5 + 0.5 * sharp) * frontal + 1e-9


def scaled_detections(
    image: ImageArray, detector: Detector, scale: float, upsample: int
) -> list[Box]:
    """Face boxes, in frame pixels, found on the frame resized by ``scale``."""
    height, width = image.shape[:2]
    small = image
    if scale != 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(
            cv2.resize(
                image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            ),
            dtype=np.uint8,
        )
    return [_clip(d.box.scaled(1 / scale), width, height) for d in detector(small, upsample)]


def roi_detections(image: ImageArray, detector: Detector, around: list[Box]) -> list[Box]:
    """Face boxes found near where tracks are expected: each region is cropped and scaled so
    the face is about ROI_FACE_PX wide, which costs a fraction of a full-frame scan."""
    height, width = image.shape[:2]
    found: list[Box] = []
    for box in around:
        margin = ROI_MARGIN * max(box.width, box.height)
        region = _clip(
            Box(
                round(box.left - margin),
                round(box.top - margin),
                round(box.right + margin),
                round(box.bottom + margin),
            ),
            width,
            height,
        )
        if region.width < 8 or region.height < 8:
            continue
        crop = image[region.top : region.bottom, region.left : region.right]
        scale = min(max(ROI_FACE_PX / max(box.width, 1), 0.25), 2.0)
        for b in scaled_detections(np.ascontiguousarray(crop), detector, scale, 0):
            moved = Box(
                b.left + region.left,
                b.top + region.top,
                b.right + region.left,
                b.bottom + region.top,
            )
            if all(moved.iou(f) < 0.5 for f in found):
                found.append(moved)
    return found


def _clip(box: Box, width: int, height: int) -> Box:
    return Box(
        max(0, min(box.left, width)),
        max(0, min(box.top, height)),
        max(0, min(box.right, width)),
        max(0, min(box.bottom, height)),
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
) -> None:
    """Feed ``source`` through ``worker`` until the source ends or ``stop`` is set, keeping the
    gallery current in the background."""
    stop = stop or threading.Event()
    worker.load()  # before the first frame (the gallery not left to the watcher's first poll)
    watching = worker.gallery.watch() if worker.gallery is not None else nullcontext()
    started = last_stats = time.monotonic()
    with watching, _closed_on(stop, source):
        frames = iter(source.frames())
        while not stop.is_set():
            t0 = time.perf_counter()
            frame = next(frames, None)
            worker.stage_s["decode"] += time.perf_counter() - t0
            if frame is None:
                break
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
