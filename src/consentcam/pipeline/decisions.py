"""The recognition policy a camera worker applies to each track (docs/architecture.md and
docs/model-card.md):
which views of a face to keep, when to embed one (within a per-track budget), and what the fused
evidence decides: a member, a verified claim, or unknown for good. Also what the worker remembers
between tracks: members alerted within the cooldown, and the verify-mode claims it was offered.

Bystanders (privacy invariant 2): a track's chips, pictures and embeddings live only in its
``LiveTrack``, in this process's memory; they are zeroed when the track is decided unknown, is
decided a member (after the fused view and snapshot are handed to the caller) or ends.

Nothing here reads or writes the store: the worker reads the claims and writes the alerts.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np

from consentcam.config import PipelineSettings, VisionSettings
from consentcam.consent.gallery import SiteGallery
from consentcam.match.gallery import Identification
from consentcam.match.scores import fused_template
from consentcam.vision.align import CHIP_PADDING, face_chip, face_landmarks, face_picture
from consentcam.vision.embed import Embedder, fused_embeddings
from consentcam.vision.quality import face_quality
from consentcam.vision.records import Box, ImageArray

# Claims come from kiosks while the worker runs: re-read from the store at most this often.
CLAIMS_REREAD_S = 0.5


def candidate_score(box: Box, sharpness: float, yaw: float, roll_deg: float) -> float:
    """How good a frame is for embedding: bigger, sharper, more frontal faces first."""
    size = min(box.width, 200) / 200
    sharp = min(sharpness / 100.0, 1.0)
    frontal = max(0.0, 1.0 - abs(yaw) / 0.5) * max(0.0, 1.0 - abs(roll_deg) / 45.0)
    return size * (0.5 + 0.5 * sharp) * frontal + 1e-9


@dataclass(slots=True)
class LiveTrack:
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


@dataclass(frozen=True, slots=True)
class OpenClaim:
    """Verify mode: a claim waiting at this camera, with the claimed member's templates."""

    claim_id: str
    member_id: str
    expires_at: dt.datetime
    templates: np.ndarray


@dataclass(frozen=True, slots=True)
class Decision:
    """A track decided a member. ``view`` (the fused face) may become a visit template and
    ``snapshot`` (door mode: the best view's picture) may be kept for staff: whoever holds the
    decision zeroes both once the alert is written."""

    result: Identification
    claim: OpenClaim | None  # the claim verified, in verify mode
    view: np.ndarray
    snapshot: np.ndarray | None


class DecisionPolicy:
    """One camera's recognition policy, applied track by track; no store, no clock."""

    def __init__(
        self,
        pipeline: PipelineSettings,
        vision: VisionSettings,
        *,
        door: bool,
        embedder: Embedder | None,
        gallery: SiteGallery | None,
    ) -> None:
        self.p = pipeline
        self.vision = vision
        self.door = door
        self.embedder = embedder
        self.gallery = gallery

    def collect(self, track: LiveTrack, image: ImageArray, box: Box) -> None:
        """Keep this view of the face as the track's candidate if it is the best since the last
        embedding (door mode: with the picture staff would see)."""
        landmarks = face_landmarks(image, box)
        chip = face_chip(image, box, landmarks)
        quality = face_quality(box, landmarks, chip, self.vision.quality)
        score = candidate_score(box, quality.sharpness, quality.yaw, quality.roll_deg)
        if score <= track.candidate_score:
            chip.fill(0)
            return
        views = [chip] + [
            face_chip(image, box, landmarks, pad)
            for pad in self.vision.embed.paddings
            if pad != CHIP_PADDING
        ]
        if CHIP_PADDING not in self.vision.embed.paddings:
            views = views[1:]
            chip.fill(0)
        if track.candidate is not None:
            track.candidate.fill(0)
        track.candidate = np.stack(views)
        track.candidate_score = score
        if self.door:
            if track.candidate_picture is not None:
                track.candidate_picture.fill(0)
            track.candidate_picture = face_picture(image, box, landmarks)

    def embed_if_due(self, track: LiveTrack, frame_index: int) -> bool:
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
        vector = fused_embeddings(track.candidate[None], self.vision.embed, self.embedder)[0]
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

    def ready(self, track: LiveTrack, hits: int) -> bool:
        """Whether there is enough evidence to decide on: the track seen K times
        (``min_consistent``) with enough views embedded (``min_views``)."""
        return hits >= self.p.min_consistent and len(track.embeddings) >= self.p.min_views

    def unknown_if_spent(self, track: LiveTrack) -> None:
        """A track that has spent its embedding budget without a decision is unknown for good:
        its faces are zeroed now, not at the end of the track."""
        if track.embedded >= self.p.max_embeds and not track.decided:
            track.decided = True
            track.forget_faces()

    def decide(self, track: LiveTrack, claimed: list[OpenClaim]) -> Decision | None:
        """A decision once the fusion of every view embedded so far, weighted by quality score
        (a turned or blurred view counts less), matches and no single view points at someone
        else; None to keep looking. With claims (verify mode) the fusion is checked 1:1 against
        each claimed member instead of searching the gallery."""
        assert self.gallery is not None
        fused = fused_template(np.stack(track.embeddings), track.scores)
        if claimed:
            result, claim = self.verify(fused, claimed)
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
        return Decision(result, claim, fused, snapshot)

    def verify(
        self, fused: np.ndarray, claimed: list[OpenClaim]
    ) -> tuple[Identification, OpenClaim | None]:
        """The first claim whose member the fused view matches; else the closest miss."""
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


class Cooldown:
    """When each member was last alerted at this camera: a browsing member alerts staff once
    per ``seconds``. Members are forgotten once their cooldown is over."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._alerted: dict[str, dt.datetime] = {}

    def active(self, member_id: str, at: dt.datetime) -> bool:
        since = at - dt.timedelta(seconds=self.seconds)
        return self._alerted.get(member_id, since - dt.timedelta(seconds=1)) >= since

    def remember(self, member_id: str, at: dt.datetime) -> None:
        since = at - dt.timedelta(seconds=self.seconds)
        self._alerted = {m: t for m, t in self._alerted.items() if t >= since}
        self._alerted[member_id] = at


class ClaimCache:
    """Verify mode: the open claims at this camera as last read from the store, less those
    verified here. ``verified`` maps claim ids to their expiry: a verified claim's row stays open
    while its alert waits in the spool, so it must not be offered again until it expires, when
    the store stops offering it anyway."""

    def __init__(self) -> None:
        self.read_at = -1.0  # time.monotonic() of the last read; -1: read at the next face
        self.known: list[OpenClaim] = []
        self.verified: dict[str, dt.datetime] = {}

    def due(self) -> bool:
        return time.monotonic() - self.read_at >= CLAIMS_REREAD_S

    def read(self, claims: list[OpenClaim] | None) -> None:
        """Note a read: the claims open now, or None when the store did not answer (the claims
        already read stay valid; new ones wait for it)."""
        if claims is not None:
            self.known = claims
        self.read_at = time.monotonic()

    def offered(self, now: dt.datetime) -> list[OpenClaim]:
        # Expiry is checked here too: a claim read before the store went away ends on time.
        return [c for c in self.known if c.expires_at > now and c.claim_id not in self.verified]

    def remember_verified(self, claim: OpenClaim, at: dt.datetime) -> None:
        """Stop offering a verified claim, and forget those past their expiry: the store no
        longer returns them as open, so remembering them would only grow the set."""
        self.verified = {c: expiry for c, expiry in self.verified.items() if expiry > at}
        self.verified[claim.claim_id] = claim.expires_at
        self.read_at = -1.0  # re-read at the next face
