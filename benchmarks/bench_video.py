#!/usr/bin/env python
"""Door-camera video throughput and attribution against the anchor, face_recognition 1.3.0.

Ours: the camera pipeline (``process_video``) in ``door`` mode, with the ``--enroll`` people
enrolled through the consent flow in a throwaway development store. Anchor (``--anchor``), in the
same process on the same file: HOG with upsample 1, encode and compare every face in every frame,
nearest enrolled name if its distance is at most 0.6. Both decode with OpenCV; decoding counts in
both fps figures and is also reported on its own. Everything runs pinned to ``--cores`` cores
(default one). With ``--truth`` (or ``--make-clip``) attributions are scored against the clip's
labels. ``--lfw-members N`` adds N LFW people to the made clip as members, each enrolled from one
of their images and walking in another. The last line printed is one JSON document.

Usage:
  python benchmarks/bench_video.py --make-clip [OUT.mp4] [--lfw-members N] [--anchor] --json
  python benchmarks/bench_video.py VIDEO --enroll NAME=PHOTO ... [--truth T.json] [--anchor] --json
  python benchmarks/bench_video.py ../shared/data/video/pedestrians-1080p.mp4 --anchor --json
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from consentcam.pipeline.clips import ClipTruth, sample_actors, truth_path, write_clip
from consentcam.vision.decode import load_image
from consentcam.vision.records import Box, ImageArray

if TYPE_CHECKING:
    from consentcam.pipeline.worker import VideoRun

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PUBLIC_DOMAIN = SHARED / "public-domain"
LFW = SHARED / "lfw" / "lfw-deepfunneled"
# Clips are derived from LFW, which must never enter the repository: they live in a temp folder.
DEFAULT_CLIP = Path(tempfile.gettempdir()) / "consentcam-bench" / "door-clip.mp4"

# The labelled clip: members are enrolled from one photo and walk past in different ones.
ENROL = {"Barack Obama": "obama.jpg", "Joe Biden": "biden.jpg"}
WALKS = (
    ("Barack Obama", "obama2.jpg"),
    ("Joe Biden", "two_people.jpg"),
    ("Barack Obama", "obama3.jpg"),
)
STRANGERS = 6
ANCHOR_TOLERANCE = 0.6
MIN_IOU = 0.3  # an attributed face and a truth box overlapping this much are the same face


class TrackLike(Protocol):
    """What scoring needs of ``consentcam.pipeline.worker.TrackReport``."""

    @property
    def member_id(self) -> str | None: ...

    @property
    def frames(self) -> tuple[tuple[int, Box], ...]: ...


# One face attributed (or not) in one frame: (frame index, name or None, box).
Attribution = tuple[int, str | None, Box]


# -- the labelled clip ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LfwMember:
    """An LFW person made a member of the clip: enrolled from one image, walking in another."""

    name: str  # "George W Bush" for lfw-deepfunneled/George_W_Bush
    enrol: Path
    walk: Path


def make_clip(out: Path, seed: int = 0, members: Sequence[LfwMember] = ()) -> ClipTruth:
    """The benchmark clip: Obama twice and Biden once, in photos other than their enrolment
    photos, with six LFW strangers between them, then each of ``members`` walking in its walk
    image; truth written beside it."""
    if out.resolve().is_relative_to(REPO):
        raise SystemExit(f"{out}: the clip holds LFW faces and must not be written in the repo")
    out.parent.mkdir(parents=True, exist_ok=True)
    walkers = [(name, _walk_photo(photo)) for name, photo in WALKS]
    walkers += [(m.name, load_image(m.walk)) for m in members]
    strangers = lfw_strangers(STRANGERS, seed, exclude={m.enrol.parent.name for m in members})
    actors = sample_actors(walkers, strangers)
    return write_clip(out, actors, frames=max(a.end for a in actors), seed=seed)


def _walk_photo(name: str) -> ImageArray:
    image = load_image(PUBLIC_DOMAIN / name)
    if name == "two_people.jpg":  # Obama on the left half, Biden on the right
        image = np.ascontiguousarray(image[:, image.shape[1] // 2 :])
    return image


def lfw_strangers(count: int, seed: int, exclude: Iterable[str] = ()) -> list[ImageArray]:
    """First images of ``count`` LFW people drawn with ``seed`` (never the members, nor the LFW
    folders in ``exclude``), each with a face our detector finds (the clip's truth needs it)."""
    from consentcam.vision.faces import image_faces

    people = _lfw_people()
    # The draw is over all people, the excluded skipped after it: without ``exclude`` (the
    # default clip) the strangers are the same whatever members are added.
    excluded = set(exclude)
    chosen: list[ImageArray] = []
    for name in random.Random(seed).sample(people, 4 * count):
        if name in excluded:
            continue
        image = load_image(sorted((LFW / name).glob("*.jpg"))[0])
        if image_faces(image, embed=False):
            chosen.append(image)
        if len(chosen) == count:
            break
    return chosen


def lfw_members(count: int, seed: int) -> list[LfwMember]:
    """``count`` LFW people with at least two images, drawn with ``seed`` (never Obama or
    Biden, who are members already), in the draw's order. Each is enrolled from image 1 if the
    consent flow's quality gate (``enrolment_face``, the store's vision settings) accepts it, else
    from the next image it accepts, and walks in the first other image where the detector finds
    exactly one face (image 2 unless that fails); a person with no such pair is skipped for the
    next one drawn. Deterministic for a seed."""
    from consentcam.config import load_settings
    from consentcam.errors import InputError
    from consentcam.vision.faces import enrolment_face, image_faces

    vision = load_settings(dev=True).vision  # what run_ours's store enrols with
    people = [p for p in _lfw_people() if len(list((LFW / p).glob("*.jpg"))) >= 2]
    random.Random(seed).shuffle(people)
    chosen: list[LfwMember] = []
    for person in people:
        if len(chosen) == count:
            break
        images = sorted((LFW / person).glob("*.jpg"))
        enrol = None
        for image in images:
            try:
                enrolment_face(image, vision)
            except InputError:
                continue
            enrol = image
            break
        if enrol is None:
            continue
        walk = next(
            (i for i in images if i != enrol and len(image_faces(load_image(i), embed=False)) == 1),
            None,
        )
        if walk is not None:
            chosen.append(LfwMember(person.replace("_", " "), enrol, walk))
    if len(chosen) < count:
        raise SystemExit(f"--lfw-members {count}: only {len(chosen)} eligible LFW people")
    return chosen


def _lfw_people() -> list[str]:
    """LFW folders in name order, the clip's public-domain members (Obama, Biden) left out."""
    return sorted(p.name for p in LFW.iterdir() if not any(m in p.name for m in ("Obama", "Biden")))


def truncated(video: Path, max_frames: int, workdir: Path) -> Path:
    """The first ``max_frames`` frames of ``video`` as a new file, so both systems read exactly
    the same frames (the pipeline runs its source to the end). Re-encoded with mp4v."""
    cap = cv2.VideoCapture(str(video))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    if total <= max_frames:
        cap.release()
        return video
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    out = workdir / f"first-{max_frames}{video.suffix or '.mp4'}"
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    for _ in range(max_frames):
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(frame)
    writer.release()
    cap.release()
    return out


# -- ours ----------------------------------------------------------------------------------------


def run_ours(
    video: Path, enrol: Mapping[str, Path], workdir: Path, progress: Progress
) -> tuple[VideoRun, dict[str, str], dict[str, Any]]:
    """Enrol through the consent flow in a throwaway store, then run the door pipeline to EOF.
    Returns the run, member id -> name, and the pipeline settings used."""
    from consentcam.config import load_settings
    from consentcam.consent.consents import record_consent
    from consentcam.consent.context import open_ledger
    from consentcam.consent.enrolment import enroll
    from consentcam.consent.members import add_member
    from consentcam.consent.profiles import RECOGNITION
    from consentcam.consent.sites import add_camera, add_site
    from consentcam.pipeline.worker import process_video
    from consentcam.vision.faces import image_faces

    settings = load_settings(data_dir=workdir / "store", dev=True)
    ledger = open_ledger(settings, actor="bench", create=True)
    add_site(ledger, "bench", "eu")
    add_camera(ledger, "bench", "door", str(video), "door", True)
    evidence = workdir / "consent-evidence.txt"
    evidence.write_text("benchmark: consent recorded by bench_video.py for its own test store\n")
    names = {}
    for name, photo in enrol.items():
        member = add_member(ledger, "bench", name)
        record_consent(ledger, member.id, purpose=RECOGNITION, evidence=evidence)
        enroll(ledger, member.id, [photo])
        names[member.id] = name
    # Models load on first use: load them outside the clock (enrolment already did, if any).
    image_faces(load_image(PUBLIC_DOMAIN / ENROL["Barack Obama"]))
    kwargs: dict[str, Any] = {"settings": settings}
    if "on_frame" in inspect.signature(process_video).parameters:
        kwargs["on_frame"] = lambda n: progress.update(n)
    run = process_video(ledger, "door", **kwargs)
    ledger.store.engine.dispose()
    return run, names, settings.pipeline.model_dump(mode="json")


def track_attributions(tracks: Iterable[TrackLike], names: Mapping[str, str]) -> list[Attribution]:
    """Every (frame, name, box) the pipeline reported: a track's identity covers all its frames."""
    return [
        (index, names.get(t.member_id) if t.member_id else None, box)
        for t in tracks
        for index, box in t.frames
    ]


# -- the anchor ----------------------------------------------------------------------------------


@dataclass(slots=True)
class AnchorRun:
    frames: int
    seconds: float
    stage_ms: dict[str, float]
    faces: list[Attribution]


def run_anchor(
    video: Path, enrol: Mapping[str, Path], max_frames: int | None, progress: Progress
) -> AnchorRun:
    """face_recognition's video loop: every face of every frame detected, encoded, compared."""
    import face_recognition as fr

    names: list[str] = []
    known = []
    for member, photo in enrol.items():
        image = fr.load_image_file(str(photo))
        encodings = fr.face_encodings(
            image, fr.face_locations(image, number_of_times_to_upsample=1)
        )
        if not encodings:
            raise SystemExit(f"{photo}: the anchor finds no face to enrol {member}")
        names.append(member)
        known.append(encodings[0])
    seconds = dict.fromkeys(("decode", "detect", "encode", "compare"), 0.0)
    faces: list[Attribution] = []
    cap = cv2.VideoCapture(str(video))
    index = 0
    while max_frames is None or index < max_frames:
        t0 = time.perf_counter()
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        t1 = time.perf_counter()
        locations = fr.face_locations(rgb, number_of_times_to_upsample=1)
        t2 = time.perf_counter()
        encodings = fr.face_encodings(rgb, locations)
        t3 = time.perf_counter()
        for (top, right, bottom, left), encoding in zip(locations, encodings, strict=True):
            name: str | None = None
            if known:
                distances = fr.face_distance(known, encoding)
                best = int(np.argmin(distances))
                name = names[best] if distances[best] <= ANCHOR_TOLERANCE else None
            faces.append((index, name, Box(left, top, right, bottom)))
        t4 = time.perf_counter()
        for stage, spent in zip(seconds, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            seconds[stage] += spent
        index += 1
        progress.update(index)
    cap.release()
    frames = max(index, 1)
    return AnchorRun(
        index, sum(seconds.values()), {k: 1000 * v / frames for k, v in seconds.items()}, faces
    )


# -- scoring -------------------------------------------------------------------------------------


def scored(
    faces: Iterable[Attribution], members: Iterable[str], truth: ClipTruth | None
) -> dict[str, Any]:
    """Frames attributed to each member and, with truth, how many were right and how many wrong.

    ``correct_frames``: frames where a face attributed to X lies on X's truth box (IoU >= 0.3,
    best match). ``wrong_frames``: frames where a face attributed to X lies on another person's
    or a stranger's box; ``wrong_by_name`` splits them by the name wrongly given."""
    members = list(members)
    identified: dict[str, set[int]] = {m: set() for m in members}
    correct: dict[str, set[int]] = {m: set() for m in members}
    wrong: dict[str, set[int]] = {}
    for index, name, box in faces:
        if name is None:
            continue
        identified.setdefault(name, set()).add(index)
        if truth is None or index >= truth.frames:
            continue
        best = max(truth.boxes[index], key=lambda nb: box.iou(nb[1]), default=None)
        if best is None or box.iou(best[1]) < MIN_IOU:
            continue
        if best[0] == name:
            correct.setdefault(name, set()).add(index)
        else:
            wrong.setdefault(name, set()).add(index)
    result: dict[str, Any] = {"identified_frames": _counts(identified)}
    if truth is not None:
        visible = truth.visible_frames()
        result["truth_frames"] = {m: visible.get(m, 0) for m in members}
        result["correct_frames"] = _counts(correct)
        result["wrong_frames"] = len(set().union(*wrong.values()))
        result["wrong_by_name"] = _counts(wrong)
    return result


def faces_tracked(reference: Iterable[Attribution], faces: Iterable[Attribution]) -> float | None:
    """Share of the ``reference`` faces (the anchor's) that one of ``faces`` overlaps in the same
    frame: on unlabelled video, whether a higher fps came from finding fewer faces."""
    by_frame: dict[int, list[Box]] = {}
    for index, _, box in faces:
        by_frame.setdefault(index, []).append(box)
    hits = [
        any(box.iou(other) >= MIN_IOU for other in by_frame.get(index, ()))
        for index, _, box in reference
    ]
    return round(sum(hits) / len(hits), 3) if hits else None


def _counts(frames: Mapping[str, set[int]]) -> dict[str, int]:
    return {name: len(indices) for name, indices in frames.items()}


# -- progress ------------------------------------------------------------------------------------


class Progress:
    """A progress bar on stderr: rich's on a terminal, a plain line every 10% otherwise."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self._update: Callable[[int], None] = lambda n: None

    @contextmanager
    def task(self, label: str, total: int | None) -> Iterator[None]:
        if self.console.is_terminal:
            from rich.progress import Progress as Bar

            with Bar(console=self.console, transient=True) as bar:
                task = bar.add_task(label, total=total)
                self._update = lambda n: bar.update(task, completed=n)
                yield
        else:
            step = max(1, (total or 100) // 10)
            print(f"{label}: started", file=sys.stderr, flush=True)
            self._update = lambda n: (
                print(f"{label}: {n}/{total or '?'} frames", file=sys.stderr, flush=True)
                if n % step == 0
                else None
            )
            yield
            print(f"{label}: done", file=sys.stderr, flush=True)
        self._update = lambda n: None

    def update(self, n: int) -> None:
        self._update(n)


# -- main ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("video", nargs="?", type=Path, help="video file (default: the made clip)")
    parser.add_argument(
        "--enroll",
        action="append",
        default=[],
        metavar="NAME=PHOTO",
        help="enrol NAME from PHOTO (repeatable); with --make-clip: the clip's members by default",
    )
    parser.add_argument("--truth", type=Path, help="the clip's truth JSON (clips.ClipTruth)")
    parser.add_argument(
        "--make-clip",
        nargs="?",
        const=DEFAULT_CLIP,
        type=Path,
        metavar="OUT.mp4",
        help=f"build the labelled clip (truth beside it; default {DEFAULT_CLIP})",
    )
    parser.add_argument("--anchor", action="store_true", help="also run face_recognition's loop")
    parser.add_argument("--max-frames", type=int, help="only the first N frames (both systems)")
    parser.add_argument("--cores", type=int, default=1, help="cores to pin the process to")
    parser.add_argument("--seed", type=int, default=0, help="seed of the made clip")
    parser.add_argument(
        "--lfw-members",
        type=int,
        default=0,
        metavar="N",
        help="with --make-clip: N more members drawn from LFW (--seed), enrolled from one image "
        "and walking in another",
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON document")
    args = parser.parse_args(argv)

    enrol = dict(_enrol_arg(e) for e in args.enroll)
    truth_file = args.truth
    members: list[LfwMember] = []
    if args.lfw_members:
        if args.make_clip is None:
            parser.error("--lfw-members needs --make-clip")
        if args.lfw_members < 0:
            parser.error("--lfw-members: expected N >= 0")
        members = lfw_members(args.lfw_members, args.seed)
    if args.make_clip is not None:
        made = make_clip(args.make_clip, args.seed, members)
        if not args.json:
            print(f"clip: {args.make_clip} ({made.frames} frames)", file=sys.stderr)
        if args.video is None:
            args.video, truth_file = args.make_clip, truth_path(args.make_clip)
            enrol = enrol or {name: PUBLIC_DOMAIN / photo for name, photo in ENROL.items()}
            enrol |= {m.name: m.enrol for m in members}
    if args.video is None:
        parser.error("give a VIDEO or --make-clip")
    truth = ClipTruth.from_json(truth_file.read_text()) if truth_file else None
    cores = pin_cores(args.cores)
    progress = Progress()

    with tempfile.TemporaryDirectory(prefix="consentcam-bench-") as tmp:
        work = Path(tmp)
        video = args.video
        if args.max_frames:
            video = truncated(args.video, args.max_frames, work)
        source_fps, size, frames = _video_info(video)
        with progress.task("consentcam", frames):
            run, names, pipeline = run_ours(video, enrol, work, progress)
        if truth is not None:  # score only the frames that were run (--max-frames)
            truth = ClipTruth(truth.size, truth.fps, truth.boxes[: run.frames])
        ours_faces = track_attributions(run.tracks, names)
        fps = run.frames / run.seconds if run.seconds else 0.0
        report: dict[str, Any] = {
            "benchmark": "video",
            "video": args.video.name,
            "size": size,
            "source_fps": round(source_fps, 2),
            "cores": cores,
            "frames": run.frames,
            "seconds": round(run.seconds, 3),
            "fps": round(fps, 2),
            "realtime": round(fps / source_fps, 3) if source_fps else None,
            "stage_ms": _r(run.stage_ms),
            **scored(ours_faces, enrol, truth),
            "unknown_tracks": sum(1 for t in run.tracks if t.member_id is None),
            "tracks": len(run.tracks),
            "faces": len(ours_faces),
            "events": len(run.events),
            "pipeline": pipeline,
        }
        if members:
            report["lfw_members"] = {
                m.name: {"enrol": m.enrol.name, "walk": m.walk.name} for m in members
            }
        if args.anchor:
            with progress.task("anchor", run.frames):
                anchor = run_anchor(video, enrol, args.max_frames, progress)
            anchor_fps = anchor.frames / anchor.seconds if anchor.seconds else 0.0
            report["anchor"] = {
                "name": "face_recognition 1.3.0 (HOG upsample 1, encode and compare every face, "
                "tolerance 0.6)",
                "frames": anchor.frames,
                "seconds": round(anchor.seconds, 3),
                "fps": round(anchor_fps, 2),
                "realtime": round(anchor_fps / source_fps, 3) if source_fps else None,
                "stage_ms": _r(anchor.stage_ms),
                **scored(anchor.faces, enrol, truth),
                "faces": len(anchor.faces),
                "unknown_faces": sum(1 for _, name, _ in anchor.faces if name is None),
            }
            report["ratio_fps"] = round(fps / anchor_fps, 2) if anchor_fps else None
            report["anchor_faces_tracked"] = faces_tracked(anchor.faces, ours_faces)
            report["ratio_identified"] = {
                name: _ratio(report["identified_frames"].get(name, 0), count)
                for name, count in report["anchor"]["identified_frames"].items()
            }
            if truth is not None:
                report["ratio_correct"] = {
                    name: _ratio(report["correct_frames"].get(name, 0), count)
                    for name, count in report["anchor"]["correct_frames"].items()
                }
    if not args.json:
        print(_summary(report), file=sys.stderr)
    print(json.dumps(report))
    return 0


def _enrol_arg(text: str) -> tuple[str, Path]:
    name, sep, photo = text.partition("=")
    if not sep or not name or not photo:
        raise SystemExit(f"--enroll {text!r}: expected NAME=PHOTO")
    if not Path(photo).is_file():
        raise SystemExit(f"--enroll {text!r}: no such photo")
    return name, Path(photo)


def pin_cores(cores: int) -> int:
    """Pin this process (decoding threads included) and BLAS to ``cores`` cores: the target is
    real time on one core, and the machine's other cores are not ours to count."""
    from threadpoolctl import threadpool_limits

    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[: max(1, cores)]
    os.sched_setaffinity(0, chosen)
    threadpool_limits(len(chosen))
    cv2.setNumThreads(len(chosen))
    return len(chosen)


def _video_info(video: Path) -> tuple[float, list[int], int]:
    """Frame rate, [width, height] and frame count from the container."""
    cap = cv2.VideoCapture(str(video))
    try:
        if not cap.isOpened():
            raise SystemExit(f"{video}: cannot open the video")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        size = [int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))]
        return fps, size, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


def _ratio(ours: int, theirs: int) -> float | None:
    return round(ours / theirs, 3) if theirs else None


def _r(ms: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in ms.items()}


def _summary(report: Mapping[str, Any]) -> str:
    line = f"consentcam {report['fps']} fps ({report['frames']} frames)"
    if "anchor" in report:
        line += f", anchor {report['anchor']['fps']} fps, ratio {report['ratio_fps']}"
    line += f"; identified {report['identified_frames']}"
    if "wrong_frames" in report:
        line += f", wrong {report['wrong_frames']}"
    return line


if __name__ == "__main__":
    sys.exit(main())
