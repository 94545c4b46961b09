"""Embeddings of benchmark images through the runtime pipeline, on every core, with progress.

A benchmark needs one embedding per image, so unlike runtime a face is always produced: the
fallback chain is documented in ``consentcam.eval.lfw`` and each image's route is recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from consentcam.config import VisionSettings
from consentcam.vision.decode import load_image
from consentcam.vision.detect import central_detection, centre_offset, face_detections
from consentcam.vision.faces import detected_faces, limit_blas_threads
from consentcam.vision.records import Box, Detection, ImageArray

CENTRE = "centre"
# Side of the fallback box as a fraction of the image's shorter side: the size of a typical
# face in an LFW portrait.
CENTRE_FRACTION = 0.43
# A benchmark portrait's subject is centred; a face whose centre is farther than this fraction of
# the shorter side from the image centre is a bystander, and the next fallback is tried. (On LFW
# this replaced four wrong faces whose pairs the model could not have got right.)
MAX_CENTRE_OFFSET = 0.2


@dataclass(frozen=True, slots=True)
class BenchmarkEmbedding:
    path: str
    vector: np.ndarray
    route: str  # which detector pass found the face, or "centre"


def benchmark_detection(image: ImageArray, settings: VisionSettings) -> Detection:
    """The portrait's face: the central face from HOG, HOG with more upsampling, then the CNN
    detector, whichever first finds one near the centre; else a centred box."""
    passes: list[Callable[[], list[Detection]]] = [
        lambda: face_detections(image, settings.detect, retry=False)
    ]
    if settings.detect.retry_upsample > settings.detect.upsample:
        retry = settings.detect.model_copy(update={"upsample": settings.detect.retry_upsample})
        passes.append(lambda: face_detections(image, retry, retry=False))
    if settings.detect.type != "cnn":
        cnn = settings.detect.model_copy(update={"type": "cnn", "upsample": 1})
        passes.append(lambda: face_detections(image, cnn, retry=False))
    limit = MAX_CENTRE_OFFSET * min(image.shape[0], image.shape[1])
    for detections in passes:
        chosen = central_detection(detections(), image.shape)
        if chosen is not None and centre_offset(chosen.box, image.shape) <= limit:
            return chosen
    return Detection(centre_box(image.shape), 0.0, CENTRE)


def centre_box(shape: tuple[int, ...]) -> Box:
    height, width = shape[0], shape[1]
    side = CENTRE_FRACTION * min(height, width)
    cx, cy = width / 2, height / 2
    return Box(
        round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2)
    )


def benchmark_embedding(job: tuple[str, VisionSettings]) -> BenchmarkEmbedding:
    path, settings = job
    image = load_image(path, settings.decode)
    detection = benchmark_detection(image, settings)
    (face,) = detected_faces(image, [detection], settings)
    return BenchmarkEmbedding(path, face.vector, detection.detector)


def benchmark_embeddings(
    paths: Sequence[str],
    settings: VisionSettings,
    *,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
    cache: Path | None = None,
) -> list[BenchmarkEmbedding]:
    """Embeddings of ``paths`` in order, on ``workers`` processes (default: every core).

    With ``cache``, results are reused when the same settings and files were embedded before,
    and saved afterwards: re-running a report or its plots then costs seconds, not minutes.
    """
    fingerprint = settings_fingerprint(settings, paths)
    if cache is not None and (cached := _read_cache(cache, fingerprint)) is not None:
        if on_done:
            on_done(len(cached))
        return cached
    workers = workers or os.cpu_count() or 1
    jobs = [(p, settings) for p in paths]
    results: list[BenchmarkEmbedding] = []
    if workers <= 1:
        for job in jobs:
            results.append(benchmark_embedding(job))
            if on_done:
                on_done(1)
    else:
        with ProcessPoolExecutor(workers, initializer=limit_blas_threads) as pool:
            for r in pool.map(benchmark_embedding, jobs, chunksize=16):
                results.append(r)
                if on_done:
                    on_done(1)
    if cache is not None:
        _write_cache(cache, fingerprint, results)
    return results


def settings_fingerprint(settings: VisionSettings, paths: Sequence[str]) -> str:
    digest = hashlib.sha256(json.dumps(settings.model_dump(mode="json"), sort_keys=True).encode())
    for p in paths:
        digest.update(p.encode() + b"\0")
    return digest.hexdigest()


def _read_cache(cache: Path, fingerprint: str) -> list[BenchmarkEmbedding] | None:
    if not cache.is_file():
        return None
    with np.load(cache, allow_pickle=False) as data:
        if str(data["fingerprint"]) != fingerprint:
            return None
        return [
            BenchmarkEmbedding(str(p), v, str(r))
            for p, v, r in zip(data["paths"], data["vectors"], data["routes"], strict=True)
        ]


def _write_cache(cache: Path, fingerprint: str, results: list[BenchmarkEmbedding]) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("wb") as fh:
        np.savez(
            fh,
            fingerprint=np.array(fingerprint),
            paths=np.array([r.path for r in results]),
            vectors=np.stack([r.vector for r in results]) if results else np.zeros((0, 128)),
            routes=np.array([r.route for r in results]),
        )
