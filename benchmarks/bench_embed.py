#!/usr/bin/env python
"""Detect + embed throughput against the anchor, face_recognition 1.3.0 (same dlib models).

Both run in this process on the same decoded images (a fixed, evenly spaced LFW subset), one core
each (BLAS limited to one thread), so ``ratio`` compares like with like; ``ours_all_cores`` adds the
process-parallel batch API. Also checks that identical face boxes give identical embeddings.
The last line printed is one JSON document.

Usage: python benchmarks/bench_embed.py [--images 200] [--lfw ../shared/data/lfw] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LFW = REPO.parent / "shared" / "data" / "lfw"


def subset(lfw: Path, count: int) -> list[str]:
    from consentcam.eval.lfw import image_path, pairs_images, parse_pairs

    keys = pairs_images(parse_pairs((lfw / "pairs.txt").read_text()))
    step = max(1, len(keys) // count)
    return [str(image_path(lfw, k)) for k in keys[::step][:count]]


def time_anchor(images: list[np.ndarray]) -> tuple[float, dict[str, float], list[list[Any]]]:
    import face_recognition as fr

    fr.face_encodings(images[0], fr.face_locations(images[0]))  # load models outside the clock
    detect = embed = 0.0
    boxes = []
    for img in images:
        t0 = time.perf_counter()
        locs = fr.face_locations(img, number_of_times_to_upsample=1)
        t1 = time.perf_counter()
        fr.face_encodings(img, locs, num_jitters=1, model="small")
        t2 = time.perf_counter()
        detect += t1 - t0
        embed += t2 - t1
        boxes.append(locs)
    n = len(images)
    total = detect + embed
    return n / total, {"detect": 1000 * detect / n, "landmarks+embed": 1000 * embed / n}, boxes


def time_ours(images: list[np.ndarray], settings: Any) -> tuple[float, dict[str, float], int]:
    from consentcam.vision.align import face_chip, face_landmarks
    from consentcam.vision.detect import face_detections
    from consentcam.vision.embed import chip_embeddings

    def run(img: np.ndarray) -> tuple[float, float, float, int]:
        t0 = time.perf_counter()
        dets = face_detections(img, settings.detect, retry=True)
        t1 = time.perf_counter()
        chips = [face_chip(img, d.box, face_landmarks(img, d.box)) for d in dets]
        t2 = time.perf_counter()
        if chips:
            chip_embeddings(np.stack(chips), settings.embed)
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2, len(dets)

    run(images[0])  # load models outside the clock
    stages = np.array([run(img) for img in images])
    n = len(images)
    total = stages[:, :3].sum()
    ms = {
        "detect": 1000 * stages[:, 0].sum() / n,
        "landmarks+chip": 1000 * stages[:, 1].sum() / n,
        "embed": 1000 * stages[:, 2].sum() / n,
    }
    return n / total, ms, int(stages[:, 3].sum())


def time_ours_parallel(paths: list[str], settings: Any, workers: int) -> float:
    from consentcam.vision.faces import files_faces

    list(files_faces(paths[:4], settings, workers=workers))  # start-up outside the clock
    t0 = time.perf_counter()
    list(files_faces(paths, settings, workers=workers))
    return len(paths) / (time.perf_counter() - t0)


def embedding_identity(images: list[np.ndarray], anchor_boxes: list[list[Any]]) -> dict[str, Any]:
    """Feed the anchor's boxes to our pipeline: the dlib backend must give its exact vectors,
    the numpy backend the same to float rounding."""
    import face_recognition as fr

    from consentcam.config import EmbedSettings, VisionSettings
    from consentcam.vision.faces import detected_faces
    from consentcam.vision.records import Box, Detection

    exact = VisionSettings(embed=EmbedSettings(type="dlib", flip=False, normalize=False))
    fast = VisionSettings(embed=EmbedSettings(type="numpy", flip=False, normalize=False))
    identical, compared, max_diff = True, 0, 0.0
    for img, locs in zip(images, anchor_boxes, strict=True):
        if not locs:
            continue
        theirs = np.array(fr.face_encodings(img, locs, num_jitters=1, model="small"), np.float32)
        dets = [
            Detection(Box(left, top, right, bottom), 0.0, "anchor")
            for top, right, bottom, left in locs
        ]
        a = np.stack([f.vector for f in detected_faces(img, dets, exact)])
        b = np.stack([f.vector for f in detected_faces(img, dets, fast)])
        identical &= bool(np.array_equal(a, theirs))
        max_diff = max(max_diff, float(np.abs(b - theirs).max()))
        compared += len(locs)
    return {
        "faces_compared": compared,
        "dlib_backend_identical": identical,
        "numpy_backend_max_abs_diff": max_diff,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="LFW images in the subset")
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW root")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timing rounds, interleaved; the median round is reported",
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON document")
    args = parser.parse_args(argv)

    from consentcam.config import EmbedSettings, VisionSettings
    from consentcam.vision.decode import load_image

    paths = subset(args.lfw, args.images)
    images = [load_image(p) for p in paths]
    default = VisionSettings()
    no_flip = VisionSettings(embed=EmbedSettings(flip=False))
    with threadpool_limits(1):
        blas = [{k: v.get(k) for k in ("internal_api", "num_threads")} for v in threadpool_info()]
        # Interleaved rounds, median per configuration: the machine is shared and noisy.
        rounds = [
            (time_anchor(images), time_ours(images, default), time_ours(images, no_flip))
            for _ in range(args.rounds)
        ]
        anchor_ips, anchor_ms, anchor_boxes = _median([r[0] for r in rounds])
        ours_ips, ours_ms, faces = _median([r[1] for r in rounds])
        plain_ips, plain_ms, _ = _median([r[2] for r in rounds])
        identity = embedding_identity(images, anchor_boxes)
    parallel_ips = time_ours_parallel(paths, default, args.workers)
    report = {
        "benchmark": "detect+embed",
        "images": len(images),
        "subset": f"every {max(1, 7701 // args.images)}th image of LFW View 2's pair images",
        "anchor": {
            "name": "face_recognition 1.3.0 (HOG upsample 1, 5-point, 1 encoding per face)",
            "images_per_second": round(anchor_ips, 2),
            "stage_ms": _r(anchor_ms),
            "faces": sum(len(b) for b in anchor_boxes),
        },
        "ours": {
            "settings": "defaults ("
            + default.embed.type
            + " ResNet, flip TTA "
            + ("on" if default.embed.flip else "off")
            + ")",
            "images_per_second": round(ours_ips, 2),
            "stage_ms": _r(ours_ms),
            "faces": faces,
        },
        "ours_no_flip": {"images_per_second": round(plain_ips, 2), "stage_ms": _r(plain_ms)},
        "ratio": round(ours_ips / anchor_ips, 3),
        "ratio_no_flip": round(plain_ips / anchor_ips, 3),
        "ours_all_cores": {
            "workers": args.workers,
            "images_per_second": round(parallel_ips, 2),
            "ratio": round(parallel_ips / anchor_ips, 3),
        },
        "identical_boxes": identity,
        "rounds": args.rounds,
        "blas_single_core": blas,
    }
    if not args.json:
        print(
            f"anchor {anchor_ips:.2f} img/s, ours {ours_ips:.2f} img/s (ratio {report['ratio']}), "
            f"no flip {plain_ips:.2f} img/s, all cores {parallel_ips:.2f} img/s",
            file=sys.stderr,
        )
    print(json.dumps(report))
    return 0


def _median(results: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The round with the median throughput (first element)."""
    return sorted(results, key=lambda r: r[0])[len(results) // 2]


def _r(ms: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in ms.items()}


if __name__ == "__main__":
    sys.exit(main())
