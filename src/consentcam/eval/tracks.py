"""A protocol that resembles a door: LFW people walk in to a door camera, through the real worker.

Members are enrolled from k of their photos through the consent flow (the kiosk's quality gate
decides which photos count) and walk in with their **other** photos, never the enrolment ones:
enrolment and probe come from different occasions, as at a real door. Each walk-in is rendered as
a clip (``pipeline/clips.py``): the face grows from about 50 to 150 px as the person comes closer,
the photos are shown hardest first (most turned, blurriest), each part of the walk under its own
light, with motion blur on some frames and JPEG at a camera's quality on every frame. Visitors
(people never enrolled) walk in the same way. Galleries of several sizes are filled with
distractor members (LFW people with one image, enrolled from it).

Every clip goes through ``CameraWorker`` in ``door`` mode, one worker per gallery and enrolment
count, with the site's real ``SiteGallery``: the decision policy, thresholds and budgets are the
product's. Detection and embedding are pure functions of their input, so a clip's detections and
embeddings are computed once and reused by the workers of the other galleries (memoised by the
input's bytes); everything else runs for each.

The anchor, face_recognition 1.3.0's per-frame loop (HOG with upsample 1, encode and compare every
face in every frame), runs on the same frames with its own encodings of the same enrolment photos;
a walk-in counts for it as soon as one frame names a member.

LFW is for research use: nothing of it is written outside the temporary store this run deletes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select

from consentcam.config import Settings, load_settings
from consentcam.consent.consents import record_consent
from consentcam.consent.context import open_ledger, site_by_name
from consentcam.consent.enrolment import EnrolmentView, enroll_views
from consentcam.consent.gallery import SiteGallery
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_camera, add_site
from consentcam.errors import InputError
from consentcam.eval.lfw import IMAGES_DIR
from consentcam.eval.openset import lfw_people
from consentcam.match.rates import wilson_interval
from consentcam.pipeline.camera import camera_context
from consentcam.pipeline.clips import Actor, rendered_frames
from consentcam.pipeline.decisions import candidate_score
from consentcam.pipeline.sources import Frame
from consentcam.pipeline.worker import CameraWorker
from consentcam.store.models import Member
from consentcam.vision.decode import load_image
from consentcam.vision.detect import DETECTORS
from consentcam.vision.embed import EMBEDDERS
from consentcam.vision.faces import files_faces, limit_blas_threads, main_face
from consentcam.vision.records import ImageArray

# The camera: an NVR's analytics substream (640x360 at 15 fps), as door cameras are analysed.
FRAME_SIZE = (640, 360)
FPS = 15.0
WALK_FRAMES = 45  # a 3 s walk toward the door
FACE_PX = (50.0, 150.0)  # face height at the start and the end of the walk
JPEG_QUALITY = 60  # a camera substream's compression
MOTION_BLUR_SHARE = 0.5  # frames with a walking sway's blur
MOTION_BLUR_PX = (3, 9)
LIGHT = (0.6, 1.3)  # brightness gain of each part of the walk
WALK_PHOTOS = 4  # most photos of a person shown in one walk-in
MEMBER_BATCH = 50  # people whose photos are checked together
PHOTOS_CHECKED = 12  # a member's photos read (in file order) to find enrolment and walk photos
GALLERY_SIZES = (100, 1000)
ENROL_PHOTOS = (1, 3)
ANCHOR_TOLERANCE = 0.6
# A crop (pipeline.clips) is this many face heights tall, the face's centre this far above its
# centre: used to keep the face inside the frame while it grows.
_CROP_FACE = 2.6
_FACE_ABOVE_CENTRE = 0.25

# Makes a progress display for (label, total) whose value advances it by n (the CLI's bar).
ProgressFn = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


@dataclass(frozen=True, slots=True)
class PhotoCheck:
    """What the vision pipeline saw in one LFW photo."""

    path: str
    faces: int
    accepted: bool  # one face, passing the enrolment quality gate
    score: float  # the worker's candidate score of the main face (0: no face)
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    quality: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Enrollee:
    person: str
    photos: tuple[PhotoCheck, ...]  # accepted enrolment photos, in the order they are used


@dataclass(frozen=True, slots=True)
class Walker:
    person: str
    photos: tuple[str, ...]  # hardest first
    member: bool


@dataclass(frozen=True, slots=True)
class TrackProtocol:
    members: tuple[Enrollee, ...]  # each walks in (``walkers``) and is in every gallery it fits
    distractors: tuple[Enrollee, ...]  # enrolled only, to fill galleries to size
    walkers: tuple[Walker, ...]  # members' walk-ins first, then visitors'

    def gallery(self, size: int) -> tuple[tuple[Enrollee, ...], tuple[Enrollee, ...]]:
        """(members, distractors) of a gallery of ``size``: as many members as fit, the rest
        distractors."""
        members = self.members[:size]
        distractors = self.distractors[: size - len(members)]
        if len(members) + len(distractors) < size:
            raise InputError(
                f"not enough LFW people for a gallery of {size}: "
                f"{len(members)} members and {len(self.distractors)} distractors"
            )
        return members, distractors


@dataclass(frozen=True, slots=True)
class Config:
    gallery_size: int
    enrol_photos: int

    @property
    def site(self) -> str:
        return f"n{self.gallery_size}-k{self.enrol_photos}"


@dataclass(frozen=True, slots=True)
class WalkResult:
    """One walk-in under one configuration."""

    person: str
    member: bool
    first_detected: int | None  # first frame in which the worker detected a face
    decided: str | None  # the person named by the decision (an LFW name), or None
    decided_at: int | None  # frame of that decision
    embeddings: int  # faces embedded over the walk-in (all tracks)


@dataclass(frozen=True, slots=True)
class AnchorFrames:
    """The anchor's view of one walk-in: for each frame with a face, per configuration, the
    nearest enrolled person and distance of each face."""

    person: str
    member: bool
    faces: dict[str, list[tuple[int, str, float]]]  # site -> (frame, nearest person, distance)


# -- choosing people -----------------------------------------------------------------------------


def check_photos(
    paths: Sequence[str], settings: Settings, workers: int, advance: Callable[[int], None]
) -> dict[str, PhotoCheck]:
    """The enrolment gate's verdict, the embedding and the candidate score of each photo."""
    checks: dict[str, PhotoCheck] = {}
    for result in files_faces(paths, settings.vision, workers=workers):
        advance(1)
        face = main_face(list(result.faces), result.shape) if result.faces else None
        if face is None:
            checks[result.source] = PhotoCheck(result.source, 0, False, 0.0)
            continue
        q = face.quality
        checks[result.source] = PhotoCheck(
            result.source,
            len(result.faces),
            len(result.faces) == 1 and q.ok,
            candidate_score(face.detection.box, q.sharpness, q.yaw, q.roll_deg),
            face.vector,
            q.as_dict(),
        )
    return checks


def track_protocol(
    root: Path,
    settings: Settings,
    *,
    sizes: Sequence[int] = GALLERY_SIZES,
    enrol_photos: int = max(ENROL_PHOTOS),
    members: int | None = None,
    visitors: int | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: ProgressFn | None = None,
) -> TrackProtocol:
    """Members: people with ``enrol_photos`` photos the enrolment gate accepts among their first
    PHOTOS_CHECKED, and at least two other photos with a face to walk in with (up to
    WALK_PHOTOS, drawn at random, shown hardest first). Visitors: people with two or more photos
    who are not members. Distractors: people with one photo that the gate accepts. Deterministic
    for a seed; at most ``members`` members and ``visitors`` visitors."""
    progress = progress or _no_progress
    images = root / IMAGES_DIR
    people = lfw_people(root)
    rng = random.Random(seed)
    names = sorted(people)
    rng.shuffle(names)
    path = {n: [str(images / n / f"{n}_{i:04d}.jpg") for i in people[n]] for n in names}

    candidates = [n for n in names if len(people[n]) >= enrol_photos + 2]
    chosen: list[Enrollee] = []
    walkers: list[Walker] = []
    # Checked a batch of people at a time, so a small protocol reads only the photos it needs.
    with progress("checking members' photos (people)", len(candidates)) as advance:
        for lo in range(0, len(candidates), MEMBER_BATCH):
            if members is not None and len(chosen) >= members:
                break
            batch = candidates[lo : lo + MEMBER_BATCH]
            wanted = [p for n in batch for p in path[n][:PHOTOS_CHECKED]]
            checks = check_photos(wanted, settings, workers, lambda n: None)
            for n in batch:
                seen = [checks[p] for p in path[n][:PHOTOS_CHECKED]]
                enrol = [c for c in seen if c.accepted][:enrol_photos]
                others = [c for c in seen if c.faces and c not in enrol]
                if len(enrol) < enrol_photos or len(others) < 2:
                    continue
                if members is not None and len(chosen) >= members:
                    break
                chosen.append(Enrollee(n, tuple(enrol)))
                walkers.append(Walker(n, _walk_order(others, rng), True))
            advance(len(batch))

    used = {e.person for e in chosen}
    visitor_names = [n for n in names if len(people[n]) >= 2 and n not in used]
    visitor_names = visitor_names[:visitors] if visitors is not None else visitor_names
    looked = [p for n in visitor_names for p in rng.sample(path[n], min(WALK_PHOTOS, len(path[n])))]
    with progress("checking visitors' photos", len(looked)) as advance:
        seen_visitors = check_photos(looked, settings, workers, advance)
    for n in visitor_names:
        mine = [seen_visitors[p] for p in looked if Path(p).parent.name == n]
        with_face = [c for c in mine if c.faces]
        if with_face:
            walkers.append(Walker(n, _walk_order(with_face, rng), False))

    needed = max(sizes) - min(len(chosen), max(sizes))
    singles = [n for n in names if len(people[n]) == 1]
    distractors: list[Enrollee] = []
    with progress("checking distractors' photos", needed) as advance:
        # About 40% of LFW photos pass the gate: read three times what is still needed.
        lo = 0
        while len(distractors) < needed and lo < len(singles):
            size = max(50, 3 * (needed - len(distractors)))
            batch = [path[n][0] for n in singles[lo : lo + size]]
            lo += size
            found = check_photos(batch, settings, workers, lambda n: None)
            for p in batch:
                if found[p].accepted and len(distractors) < needed:
                    distractors.append(Enrollee(Path(p).parent.name, (found[p],)))
                    advance(1)
    return TrackProtocol(tuple(chosen), tuple(distractors), tuple(walkers))


def _walk_order(photos: Sequence[PhotoCheck], rng: random.Random) -> tuple[str, ...]:
    """Up to WALK_PHOTOS of ``photos``, hardest (lowest candidate score) first."""
    drawn = rng.sample(list(photos), min(WALK_PHOTOS, len(photos)))
    return tuple(c.path for c in sorted(drawn, key=lambda c: c.score))


# -- rendering a walk-in -------------------------------------------------------------------------


def walk_frames(walker: Walker, seed: int) -> Iterator[ImageArray]:
    """The frames of one walk-in as a door camera delivers them (RGB, after JPEG)."""
    rng = np.random.default_rng(seed)
    height = FRAME_SIZE[1]
    photos = [load_image(p) for p in walker.photos]
    side = 1.0 if rng.random() < 0.5 else -1.0
    x0 = 0.5 + side * rng.uniform(0.0, 0.1)
    x1 = 0.5 + side * rng.uniform(0.1, 0.3)
    # The face's centre goes from 35% of the frame height (far) to 45% (near); the crop's centre
    # sits a quarter of a face height below it.
    far, near = FACE_PX
    y0 = (0.35 * height + _FACE_ABOVE_CENTRE * far) / height
    y1 = (0.45 * height + _FACE_ABOVE_CENTRE * near) / height
    actor = Actor(
        walker.person,
        photos[0],
        0,
        WALK_FRAMES,
        ((x0, y0), (x1, y1)),
        (_CROP_FACE * far / height, _CROP_FACE * near / height),
        tuple(photos[1:]),
        tuple(float(rng.uniform(*LIGHT)) for _ in photos),
    )
    for image, _ in rendered_frames(
        [actor], size=FRAME_SIZE, frames=WALK_FRAMES, seed=seed, motion_blur=True
    ):
        yield camera_degraded(image, rng)


def camera_degraded(image: ImageArray, rng: np.random.Generator) -> ImageArray:
    """``image`` as a camera substream delivers it: sometimes blurred by motion, always JPEG."""
    if rng.random() < MOTION_BLUR_SHARE:
        length = int(rng.integers(MOTION_BLUR_PX[0], MOTION_BLUR_PX[1] + 1))
        angle = float(rng.uniform(0.0, 180.0))
        line = np.zeros((length, length), np.float32)
        line[length // 2, :] = 1.0
        rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
        kernel = np.asarray(cv2.warpAffine(line, rotation, (length, length)), np.float32)
        image = np.asarray(
            cv2.filter2D(image, -1, kernel / max(float(kernel.sum()), 1e-6)), np.uint8
        )
    ok, jpeg = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:
        raise InputError("a frame could not be compressed as JPEG")
    return np.ascontiguousarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), np.uint8)


# -- the store and its galleries -----------------------------------------------------------------


def protocol_store(
    protocol: TrackProtocol,
    configs: Sequence[Config],
    data_dir: Path,
    progress: ProgressFn | None = None,
    base: Settings | None = None,
) -> Settings:
    """A development store in ``data_dir`` with one site per configuration, its members and
    distractors enrolled through the consent flow, and a door camera."""
    progress = progress or _no_progress
    overrides = base.model_dump(exclude={"data_dir", "database_url", "dev"}) if base else {}
    settings = load_settings(**overrides, data_dir=data_dir, dev=True)
    ledger = open_ledger(settings, "eval:tracks", create=True)
    evidence = data_dir / "consent-evidence.txt"
    evidence.write_text("Signed consent to recognition at the door (evaluation).")
    total = sum(c.gallery_size for c in configs)
    with progress("enrolling galleries", total) as advance:
        for config in configs:
            add_site(ledger, config.site, "eu")
            add_camera(ledger, config.site, f"door-{config.site}", "eval://frames", "door", True)
            members, distractors = protocol.gallery(config.gallery_size)
            for person in (*members, *distractors):
                member = add_member(ledger, config.site, person.person)
                record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
                views = [
                    EnrolmentView(c.vector, c.quality, hashlib.sha256(c.path.encode()).hexdigest())
                    for c in person.photos[: config.enrol_photos]
                    if c.vector is not None
                ]
                enroll_views(ledger, member.id, views)
                advance(1)
    return settings


# -- running the walk-ins ------------------------------------------------------------------------


class _Memo:
    """A pure function of one array, remembered by the array's bytes for one walk-in."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self._seen: dict[bytes, Any] = {}

    def __call__(self, array: np.ndarray, *args: Any) -> Any:
        key = hashlib.blake2b(np.ascontiguousarray(array).data, digest_size=16)
        key.update(repr(args).encode())
        digest = key.digest()
        if digest not in self._seen:
            self._seen[digest] = self._fn(array, *args)
        return self._seen[digest]

    def clear(self) -> None:
        self._seen.clear()


_STATE: dict[str, Any] = {}


def _start_process(settings: Settings, configs: Sequence[Config], anchor: dict[str, Any]) -> None:
    """Per process: the ledger, each configuration's camera and gallery, the memoised models."""
    limit_blas_threads()
    ledger = open_ledger(settings, "eval:tracks")
    cameras = {}
    for config in configs:
        ctx = camera_context(ledger, f"door-{config.site}", config.site)
        with ledger.store.transaction() as s:
            site = site_by_name(s, config.site, ledger.tenant_id(s))
            gallery = SiteGallery(ledger, site)
        gallery.refresh()
        names = _member_names(ledger, config.site)
        cameras[config.site] = (ctx, gallery, names)
    _STATE.update(
        ledger=ledger,
        cameras=cameras,
        detector=_Memo(DETECTORS[settings.vision.detect.type]),
        embedder=_Memo(EMBEDDERS[settings.vision.embed.type]),
        anchor=anchor,
    )


def _member_names(ledger: Any, site_name: str) -> dict[str, str]:
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        rows = s.execute(select(Member.id, Member.name).where(Member.site_id == site.id))
        return {mid: name for mid, name in rows}


def _walk(job: tuple[int, Walker, int]) -> tuple[dict[str, WalkResult], AnchorFrames | None]:
    index, walker, seed = job
    frames = list(walk_frames(walker, seed))
    # Each walk-in at its own hour: one member's alert cooldown never reaches another walk-in.
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=index)
    results: dict[str, WalkResult] = {}
    for site, (ctx, gallery, names) in _STATE["cameras"].items():
        worker = CameraWorker(
            _STATE["ledger"],
            ctx,
            detector=_STATE["detector"],
            embedder=_STATE["embedder"],
            gallery=gallery,
            keep_reports=True,
        )
        for i, image in enumerate(frames):
            at = start + dt.timedelta(seconds=i / FPS)
            worker.process(Frame(i, i / FPS, at, image))
        worker.finish(start + dt.timedelta(seconds=len(frames) / FPS))
        results[site] = _walk_result(walker, worker.reports, names)
    _STATE["detector"].clear()
    _STATE["embedder"].clear()
    anchor = _anchor_frames(walker, frames) if _STATE["anchor"] else None
    return results, anchor


def _walk_result(walker: Walker, reports: Sequence[Any], names: dict[str, str]) -> WalkResult:
    """The walk-in's outcome over its tracks: the first decision made, if any."""
    first = min((r.frames[0][0] for r in reports if r.frames), default=None)
    decided = sorted(
        (r for r in reports if r.member_id is not None), key=lambda r: r.decided_at or 0
    )
    top = decided[0] if decided else None
    return WalkResult(
        walker.person,
        walker.member,
        first,
        names[top.member_id] if top is not None else None,
        top.decided_at if top is not None else None,
        sum(r.embeddings for r in reports),
    )


def run_walks(
    protocol: TrackProtocol,
    settings: Settings,
    configs: Sequence[Config],
    *,
    workers: int = 1,
    seed: int = 0,
    anchor: dict[str, Any] | None = None,
    anchor_walkers: int | None = None,
    progress: ProgressFn | None = None,
) -> tuple[list[dict[str, WalkResult]], list[AnchorFrames]]:
    """Every walk-in through each configuration's worker (and the anchor's loop on the first
    ``anchor_walkers`` members and visitors), on ``workers`` processes."""
    progress = progress or _no_progress
    jobs = [(i, w, seed * 100_003 + i) for i, w in enumerate(protocol.walkers)]
    results: list[dict[str, WalkResult]] = []
    anchors: list[AnchorFrames] = []
    anchored = _anchor_selection(protocol.walkers, anchor_walkers) if anchor else set()
    with progress("walk-ins", len(jobs)) as advance:
        if workers <= 1:
            _start_process(settings, configs, {})
            walked: Any = map(_walk, jobs)
        else:
            pool = ProcessPoolExecutor(
                workers, initializer=_start_process, initargs=(settings, configs, {})
            )
            walked = pool.map(_walk, jobs, chunksize=2)
        for r, _ in walked:
            results.append(r)
            advance(1)
        if workers > 1:
            pool.shutdown()
    if anchor:
        anchor_jobs = [j for j in jobs if j[0] in anchored]
        with progress("anchor walk-ins", len(anchor_jobs)) as advance:
            if workers <= 1:
                _STATE["anchor"] = anchor
                done: Any = map(_anchor_walk, anchor_jobs)
            else:
                pool = ProcessPoolExecutor(workers, initializer=_start_anchor, initargs=(anchor,))
                done = pool.map(_anchor_walk, anchor_jobs, chunksize=2)
            for a in done:
                anchors.append(a)
                advance(1)
            if workers > 1:
                pool.shutdown()
    return results, anchors


def _anchor_selection(walkers: Sequence[Walker], limit: int | None) -> set[int]:
    """Indices of the walk-ins the anchor runs on: the first ``limit`` members and the first
    ``limit`` visitors (all without a limit)."""
    members = [i for i, w in enumerate(walkers) if w.member]
    visitors = [i for i, w in enumerate(walkers) if not w.member]
    if limit is not None:
        members, visitors = members[:limit], visitors[:limit]
    return set(members) | set(visitors)


# -- the anchor ----------------------------------------------------------------------------------


def anchor_galleries(
    protocol: TrackProtocol, configs: Sequence[Config], progress: ProgressFn | None = None
) -> dict[str, Any]:
    """face_recognition's own encodings of each configuration's enrolment photos: site ->
    (names, encodings), one encoding per photo (the anchor compares with each)."""
    import face_recognition

    progress = progress or _no_progress
    photos = {c.path for e in (*protocol.members, *protocol.distractors) for c in e.photos}
    encodings: dict[str, np.ndarray] = {}
    with progress("anchor encodings", len(photos)) as advance:
        for path in sorted(photos):
            image = face_recognition.load_image_file(path)
            found = face_recognition.face_encodings(image, face_recognition.face_locations(image))
            if found:
                encodings[path] = np.asarray(found[0], np.float64)
            advance(1)
    galleries: dict[str, Any] = {}
    for config in configs:
        members, distractors = protocol.gallery(config.gallery_size)
        names, vectors = [], []
        for person in (*members, *distractors):
            for c in person.photos[: config.enrol_photos]:
                if c.path in encodings:
                    names.append(person.person)
                    vectors.append(encodings[c.path])
        galleries[config.site] = (names, np.stack(vectors))
    return galleries


def _start_anchor(anchor: dict[str, Any]) -> None:
    limit_blas_threads()
    _STATE["anchor"] = anchor


def _anchor_walk(job: tuple[int, Walker, int]) -> AnchorFrames:
    _, walker, seed = job
    return _anchor_frames(walker, list(walk_frames(walker, seed)))


def _anchor_frames(walker: Walker, frames: Sequence[ImageArray]) -> AnchorFrames:
    import face_recognition

    faces: dict[str, list[tuple[int, str, float]]] = {site: [] for site in _STATE["anchor"]}
    for i, image in enumerate(frames):
        locations = face_recognition.face_locations(image, 1)
        for encoding in face_recognition.face_encodings(image, locations):
            for site, (names, vectors) in _STATE["anchor"].items():
                distances = np.linalg.norm(vectors - encoding, axis=1)
                best = int(np.argmin(distances))
                faces[site].append((i, names[best], float(distances[best])))
    return AnchorFrames(walker.person, walker.member, faces)


# -- the report ----------------------------------------------------------------------------------


def track_rows(
    results: Sequence[dict[str, WalkResult]],
    configs: Sequence[Config],
    protocol: TrackProtocol,
) -> list[dict[str, Any]]:
    """One row per configuration: track-level member recall, wrong-member tracks, false alerts
    per 1,000 visitor tracks and frames from the first detection to the decision."""
    rows = []
    for config in configs:
        members = {e.person for e in protocol.gallery(config.gallery_size)[0]}
        walks = [r[config.site] for r in results]
        mine = [w for w in walks if w.member and w.person in members]
        visitors = [w for w in walks if not w.member]
        right = [w for w in mine if w.decided == w.person]
        delays = [
            w.decided_at - w.first_detected
            for w in right
            if w.decided_at is not None and w.first_detected is not None
        ]
        alerts = sum(w.decided is not None for w in visitors)
        rows.append(
            {
                "gallery_size": config.gallery_size,
                "enrol_photos": config.enrol_photos,
                "member_tracks": len(mine),
                "member_recall": _share(len(right), len(mine)),
                "wrong_member_tracks": sum(
                    w.decided is not None and w.decided != w.person for w in mine
                ),
                "nonmember_tracks": len(visitors),
                "false_alerts": alerts,
                "false_alerts_per_1000": round(1000 * _share(alerts, len(visitors)), 3),
                "false_alerts_per_1000_ci95": [
                    round(1000 * b, 3) for b in wilson_interval(alerts, len(visitors))
                ],
                "decision_frames_p50": _percentile(delays, 50),
                "decision_frames_p90": _percentile(delays, 90),
                "decided_within_30_frames": _share(sum(d <= 30 for d in delays), len(delays)),
                "embeddings_per_visitor_track_max": max(
                    (w.embeddings for w in visitors), default=0
                ),
                "embeddings_per_visitor_track_mean": round(
                    float(np.mean([w.embeddings for w in visitors])) if visitors else 0.0, 2
                ),
            }
        )
    return rows


def anchor_rows(
    anchors: Sequence[AnchorFrames],
    configs: Sequence[Config],
    protocol: TrackProtocol,
    rows: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The anchor's rows: at tolerance 0.6, and at the tolerance whose false-alert rate on the
    same visitors is closest to ours without exceeding it (a walk-in alerts at the first frame
    naming a member within the tolerance)."""
    out = []
    for config, ours in zip(configs, rows, strict=True):
        members = {e.person for e in protocol.gallery(config.gallery_size)[0]}
        mine = [a for a in anchors if a.member and a.person in members]
        visitors = [a for a in anchors if not a.member]
        closest = sorted(
            min((d for _, _, d in a.faces[config.site]), default=math.inf) for a in visitors
        )
        target = ours["false_alerts_per_1000"] / 1000
        allowed = math.floor(target * len(visitors) + 1e-9)
        # The largest tolerance under which at most ``allowed`` visitors alert.
        matched = closest[allowed] - 1e-6 if allowed < len(closest) else ANCHOR_TOLERANCE
        # Rounded down: rounding to nearest could take it back to the visitor's distance.
        matched = math.floor(min(matched, ANCHOR_TOLERANCE) * 1e4) / 1e4
        for tolerance in (ANCHOR_TOLERANCE, matched):
            out.append({"tolerance": tolerance, **_anchor_row(config, mine, visitors, tolerance)})
    return out


def _anchor_row(
    config: Config, mine: Sequence[AnchorFrames], visitors: Sequence[AnchorFrames], tol: float
) -> dict[str, Any]:
    def first_named(a: AnchorFrames) -> tuple[int, str] | None:
        named = [(f, n) for f, n, d in a.faces[config.site] if d <= tol]
        return min(named) if named else None

    def first_face(a: AnchorFrames) -> int | None:
        return min((f for f, _, _ in a.faces[config.site]), default=None)

    right, delays, wrong = 0, [], 0
    for a in mine:
        named = first_named(a)
        if named is not None and named[1] == a.person:
            right += 1
            start = first_face(a)
            delays.append(named[0] - (start if start is not None else named[0]))
        elif named is not None:
            wrong += 1
    alerts = sum(first_named(a) is not None for a in visitors)
    return {
        "gallery_size": config.gallery_size,
        "enrol_photos": config.enrol_photos,
        "member_tracks": len(mine),
        "member_recall": _share(right, len(mine)),
        "wrong_member_tracks": wrong,
        "nonmember_tracks": len(visitors),
        "false_alerts": alerts,
        "false_alerts_per_1000": round(1000 * _share(alerts, len(visitors)), 3),
        "decision_frames_p50": _percentile(delays, 50),
        "decision_frames_p90": _percentile(delays, 90),
    }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _percentile(values: Sequence[int], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


# -- plumbing ------------------------------------------------------------------------------------


@contextmanager
def _no_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    def advance(n: int = 1) -> None:
        return None

    yield advance


def protocol_summary(protocol: TrackProtocol) -> dict[str, Any]:
    """The protocol's fixed terms and its people, counted (names never leave the run)."""
    return {
        "frame_size": list(FRAME_SIZE),
        "fps": FPS,
        "walk_frames": WALK_FRAMES,
        "face_px": list(FACE_PX),
        "jpeg_quality": JPEG_QUALITY,
        "motion_blur_share": MOTION_BLUR_SHARE,
        "light_gain": list(LIGHT),
        "walk_photos_max": WALK_PHOTOS,
        "members": len(protocol.members),
        "distractors": len(protocol.distractors),
        "visitors": sum(not w.member for w in protocol.walkers),
        "walk_photos_mean": round(
            float(np.mean([len(w.photos) for w in protocol.walkers])) if protocol.walkers else 0, 2
        ),
    }


def default_workers() -> int:
    return os.cpu_count() or 1


def throwaway_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="consentcam-tracks-"))
