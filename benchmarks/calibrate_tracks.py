#!/usr/bin/env python
"""Measure the track operating points of the model card (``tracks.operating_points``).

The ``eval tracks`` protocol (``consentcam.eval.tracks``) is rendered once with a recording
worker: the real ``CameraWorker`` (detection, tracking, landmarks, quality), except that every
face a confirmed track shows is embedded and kept, with its frame and quality score. The worker's
embedding policy (budget, rate, looks) and decision rule (quality-weighted fusion of the views
embedded so far, at least ``min_views``, K detections) are then replayed on those recordings for
galleries of 1 to 1,000 members enrolled from 1 or 3 photos, and the threshold at which the
given share of visitor walk-ins alerts is read off, with the member recall it gives. Small
galleries are averaged over random draws of members.

The recordings hold LFW embeddings: they live in a temporary file that is deleted at the end
(``--keep FILE`` keeps them for re-analysis, outside the repository only).

Usage:
  python benchmarks/calibrate_tracks.py --root ../shared/data/lfw --json
  python benchmarks/calibrate_tracks.py --root ../shared/data/lfw --keep /tmp/recordings.pkl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import pickle
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from consentcam.config import PipelineSettings, load_settings
from consentcam.eval import tracks
from consentcam.match.scores import fused_template

REPO = Path(__file__).resolve().parents[1]
SIZES = (1, 3, 10, 30, 100, 300, 1000)
BUDGETS = (1.0, 2.0, 5.0, 10.0)
ENROL = (1, 3)

# One recorded face: frame index, quality score, detections of the track so far, embedding.
Face = tuple[int, float, int, np.ndarray]
_WORKER: dict[str, Any] = {}


def _start(data_dir: Path) -> None:
    from consentcam.consent.context import open_ledger
    from consentcam.pipeline.camera import camera_context
    from consentcam.vision.faces import limit_blas_threads

    limit_blas_threads()
    ledger = open_ledger(load_settings(data_dir=data_dir, dev=True), "calibrate")
    _WORKER.update(ledger=ledger, ctx=camera_context(ledger, "door"))


def _record(job: tuple[int, tracks.Walker, int]) -> tuple[str, bool, int | None, list[list[Face]]]:
    """Every face of every confirmed track of one walk-in, embedded (the recording worker)."""
    from consentcam.pipeline.decisions import candidate_score
    from consentcam.pipeline.sources import Frame
    from consentcam.pipeline.worker import CameraWorker
    from consentcam.vision.align import face_chip, face_landmarks
    from consentcam.vision.embed import fused_embeddings
    from consentcam.vision.quality import face_quality

    _, walker, seed = job
    faces: dict[int, list[Face]] = {}

    class Recorder(CameraWorker):
        def _consider(self, track: Any, frame: Any, box: Any, hits: int) -> None:
            if box.width < self.p.min_face_px:
                return None
            marks = face_landmarks(frame.image, box)
            chip = face_chip(frame.image, box, marks)
            q = face_quality(box, marks, chip, self.settings.vision.quality)
            vector = fused_embeddings(chip[None, None], self.settings.vision.embed)[0]
            score = candidate_score(box, q.sharpness, q.yaw, q.roll_deg)
            faces.setdefault(track.track_id, []).append((frame.index, score, hits, vector))
            return None

    worker = Recorder(_WORKER["ledger"], _WORKER["ctx"], gallery=object(), keep_reports=True)  # type: ignore[arg-type]
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i, image in enumerate(tracks.walk_frames(walker, seed)):
        worker.process(
            Frame(i, i / tracks.FPS, start + dt.timedelta(seconds=i / tracks.FPS), image)
        )
    worker.finish(start)
    first = min((r.frames[0][0] for r in worker.reports if r.frames), default=None)
    return walker.person, walker.member, first, list(faces.values())


def replay(faces: Sequence[Face], p: PipelineSettings) -> Iterator[tuple[int, list[int]]]:
    """The worker's embedding policy (``DecisionPolicy.embed_if_due``) on a recorded track: after
    each embedding, its frame and the indices of the faces embedded so far, once the track has
    K detections (``min_consistent``)."""
    embedded: list[int] = []
    best, last, look, every, candidate = 0.0, -(10**9), 0, 0.0, None
    for j, (frame, score, _, _) in enumerate(faces):
        if candidate is None or score > faces[candidate][1]:
            candidate = j
        if len(embedded) >= p.max_embeds:
            return
        if frame - last < p.embed_gap:
            continue
        first = not embedded
        better = faces[candidate][1] >= p.embed_gain * best
        if not (first or better or frame >= look):
            continue
        every = p.look_every if first or better else every * p.look_backoff
        look = frame + round(every)
        embedded.append(candidate)
        best, last, candidate = max(best, faces[embedded[-1]][1]), frame, None
        if faces[j][2] >= p.min_consistent and len(embedded) >= p.min_views:
            yield frame, list(embedded)


def evidence(
    recordings: list[Any], gallery: np.ndarray, names: list[str], p: PipelineSettings
) -> list[Any]:
    """Per walk-in: (person, member?, first frame, [(frame, nearest name, distance)...])."""
    out = []
    for person, member, first, faces_by_track in recordings:
        points = []
        for faces in faces_by_track:
            vectors = np.stack([f[3] for f in faces])
            scores = np.array([f[1] for f in faces])
            for frame, views in replay(faces, p):
                fused = fused_template(vectors[views], np.maximum(scores[views], 1e-9))
                d = np.linalg.norm(gallery - fused, axis=1)
                i = int(np.argmin(d))
                points.append((frame, names[i], float(d[i])))
        out.append((person, member, first, sorted(points)))
    return out


def first_decision(
    points: Sequence[tuple[int, str, float]], threshold: float
) -> tuple[int, str] | None:
    return next(((f, n) for f, n, d in points if d <= threshold), None)


def operating_point(
    walks: list[Any], members: set[str], budget: float
) -> tuple[float, float, list[int]]:
    """(threshold, member recall, decision delays) where ``budget`` visitor walk-ins per 1,000
    alert (walk-ins of members outside the gallery count as visitors)."""
    closest = np.sort(
        [min((d for _, _, d in w[3]), default=9.0) for w in walks if not (w[1] and w[0] in members)]
    )
    allowed = int(np.floor(budget / 1000 * len(closest)))
    threshold = (
        float((closest[allowed - 1] + closest[allowed]) / 2)
        if allowed
        else float(closest[0] - 1e-3)
    )
    mine = [w for w in walks if w[1] and w[0] in members]
    right, delays = 0, []
    for person, _, first, points in mine:
        decided = first_decision(points, threshold)
        if decided is not None and decided[1] == person:
            right += 1
            delays.append(decided[0] - (first or 0))
    return threshold, right / max(len(mine), 1), delays


def _vector(check: tracks.PhotoCheck) -> np.ndarray:
    """An enrolment photo's embedding: the protocol keeps only accepted photos, which have one."""
    assert check.vector is not None, f"{check.path} has no embedding"
    return check.vector


def galleries(
    protocol: tracks.TrackProtocol, size: int, k: int, draws: int, rng: random.Random
) -> Iterator[tuple[np.ndarray, list[str], set[str]]]:
    for _ in range(draws):
        members = list(protocol.members)
        if draws > 1:
            rng.shuffle(members)
        chosen = members[:size]
        people = chosen + list(protocol.distractors[: size - len(chosen)])
        vectors = np.stack(
            [fused_template(np.stack([_vector(c) for c in e.photos[:k]])) for e in people]
        )
        yield vectors, [e.person for e in people], {e.person for e in chosen}


def table(
    protocol: tracks.TrackProtocol, recordings: list[Any], p: PipelineSettings, seed: int
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for size in SIZES:
        draws = 16 if size < 10 else 8 if size <= 100 else 1
        found: dict[float, dict[str, list[float]]] = {
            b: {"t": [], "1": [], "3": []} for b in BUDGETS
        }
        for k in ENROL:
            for gallery, names, members in galleries(protocol, size, k, draws, rng):
                walks = evidence(recordings, gallery, names, p)
                for b in BUDGETS:
                    threshold, recall, _ = operating_point(walks, members, b)
                    found[b]["t"].append(threshold)
                    found[b][str(k)].append(recall)
        for b in BUDGETS:
            rows.append(
                {
                    "gallery_size": size,
                    "false_alerts_per_1000": b,
                    "threshold": round(float(np.mean(found[b]["t"])), 4),
                    "member_recall_1_photo": round(float(np.mean(found[b]["1"])), 3),
                    "member_recall_3_photos": round(float(np.mean(found[b]["3"])), 3),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


@contextmanager
def _progress(label: str, total: int) -> Iterator[Any]:
    started, done = time.monotonic(), [0]

    def advance(n: int = 1) -> None:
        done[0] += n
        if done[0] % 100 == 0 or done[0] == total:
            print(
                f"{label}: {done[0]}/{total} ({time.monotonic() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    yield advance


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--root", type=Path, required=True, help="LFW folder holding lfw-deepfunneled/."
    )
    parser.add_argument("--workers", type=int, default=tracks.default_workers())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="Keep the recordings here (never in the repo).")
    parser.add_argument("--json", action="store_true", help="Print the table as one JSON document.")
    args = parser.parse_args(argv)
    if args.keep is not None and args.keep.resolve().is_relative_to(REPO):
        parser.error("--keep: recordings hold LFW embeddings and must stay outside the repository")
    settings = load_settings(dev=True)
    protocol = tracks.track_protocol(
        args.root,
        settings,
        sizes=(max(SIZES),),
        enrol_photos=max(ENROL),
        seed=args.seed,
        workers=args.workers,
        progress=_progress,
    )
    with tempfile.TemporaryDirectory(prefix="consentcam-calibrate-") as folder:
        from consentcam.consent.context import open_ledger
        from consentcam.consent.sites import add_camera, add_site

        ledger = open_ledger(
            load_settings(data_dir=Path(folder), dev=True), "calibrate", create=True
        )
        add_site(ledger, "door", "eu")
        add_camera(ledger, "door", "door", "eval://frames", "door", True)
        jobs = [(i, w, args.seed * 100_003 + i) for i, w in enumerate(protocol.walkers)]
        recordings = []
        with (
            _progress("recording walk-ins", len(jobs)) as advance,
            ProcessPoolExecutor(args.workers, initializer=_start, initargs=(Path(folder),)) as pool,
        ):
            for r in pool.map(_record, jobs, chunksize=4):
                recordings.append(r)
                advance()
    if args.keep is not None:
        args.keep.write_bytes(pickle.dumps((protocol, recordings)))
    rows = table(protocol, recordings, settings.pipeline, args.seed)
    document = {
        "operating_points": rows,
        "protocol": tracks.protocol_summary(protocol),
        "pipeline": settings.pipeline.model_dump(mode="json"),
    }
    print(json.dumps(document) if args.json else json.dumps(document, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
