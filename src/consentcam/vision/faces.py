"""The still-image pipeline: decode, detect, align, assess quality, embed.

``image_faces`` is the one entry point the CLI, enrolment and evaluation share, so every caller gets
the same detection fallbacks and the same embedding settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from consentcam.config import VisionSettings
from consentcam.errors import ConsentcamError, InputError
from consentcam.vision.align import (
    CHIP_PADDING,
    face_chip,
    face_landmarks,
    face_picture,
    picture_jpeg,
)
from consentcam.vision.decode import ImageSource, load_image
from consentcam.vision.detect import Detector, central_detection, face_detections
from consentcam.vision.embed import Embedder, fused_embeddings
from consentcam.vision.quality import face_quality
from consentcam.vision.records import Detection, Face, ImageArray


def image_faces(
    image: ImageArray,
    settings: VisionSettings | None = None,
    *,
    embed: bool = True,
    retry: bool = True,
    detector: Detector | None = None,
    embedder: Embedder | None = None,
) -> list[Face]:
    """Every face in ``image`` (largest first) with landmarks, quality and, if ``embed``, its
    embedding. An image with no face gives an empty list."""
    settings = settings or VisionSettings()
    detections = face_detections(image, settings.detect, retry=retry, detector=detector)
    return detected_faces(image, detections, settings, embed=embed, embedder=embedder)


def detected_faces(
    image: ImageArray,
    detections: list[Detection],
    settings: VisionSettings | None = None,
    *,
    embed: bool = True,
    embedder: Embedder | None = None,
) -> list[Face]:
    """Landmarks, quality and embeddings for faces already located (same box, same embedding)."""
    settings = settings or VisionSettings()
    if not detections:
        return []
    landmarks = [face_landmarks(image, d.box) for d in detections]
    chips = [face_chip(image, d.box, lm) for d, lm in zip(detections, landmarks, strict=True)]
    vectors = None
    if embed:
        views = np.stack(
            [
                [
                    chip if pad == CHIP_PADDING else face_chip(image, d.box, lm, pad)
                    for pad in settings.embed.paddings
                ]
                for d, lm, chip in zip(detections, landmarks, chips, strict=True)
            ]
        )
        vectors = fused_embeddings(views, settings.embed, embedder)
    return [
        Face(
            detection=d,
            landmarks=lm,
            quality=face_quality(d.box, lm, chip, settings.quality),
            embedding=None if vectors is None else vectors[i],
        )
        for i, (d, lm, chip) in enumerate(zip(detections, landmarks, chips, strict=True))
    ]


def file_faces(
    source: ImageSource, settings: VisionSettings | None = None, *, embed: bool = True
) -> list[Face]:
    settings = settings or VisionSettings()
    return image_faces(load_image(source, settings.decode), settings, embed=embed)


def enrolment_face(source: ImageSource, settings: VisionSettings | None = None) -> Face:
    """The single, good-quality face of an enrolment photo, or InputError saying what to fix."""
    faces = file_faces(source, settings)
    name = source if isinstance(source, (str, Path)) else "photo"
    if len(faces) != 1:
        found = "no face" if not faces else f"{len(faces)} faces"
        raise InputError(f"{name}: {found} found (an enrolment photo needs exactly one)")
    face = faces[0]
    if not face.quality.ok:
        raise InputError(f"{name}: photo rejected: {'; '.join(face.quality.reasons)}")
    return face


def picture_of(source: ImageSource, face: Face, settings: VisionSettings | None = None) -> bytes:
    """``face`` of the photo ``source`` as staff would be shown it: aligned and framed like the
    door camera's snapshots, a small JPEG (a member's reference portrait, with consent)."""
    settings = settings or VisionSettings()
    image = load_image(source, settings.decode)
    chip = face_picture(image, face.detection.box, face.landmarks)
    try:
        return picture_jpeg(chip)
    finally:
        chip.fill(0)


def main_face(faces: list[Face], shape: tuple[int, ...]) -> Face | None:
    """The face a portrait is about: the one nearest the centre among the detections."""
    chosen = central_detection([f.detection for f in faces], shape)
    return next((f for f in faces if f.detection is chosen), None)


@dataclass(frozen=True, slots=True)
class FileResult:
    """Outcome of one file in a batch: its faces, or the error that stopped it."""

    source: str
    shape: tuple[int, ...]
    faces: tuple[Face, ...]
    error: str | None = None


def files_faces(
    sources: Iterable[str],
    settings: VisionSettings | None = None,
    *,
    embed: bool = True,
    workers: int = 1,
    on_result: Callable[[FileResult], None] | None = None,
) -> Iterator[FileResult]:
    """Faces of many files, in input order, on ``workers`` processes. A bad file yields a result
    with ``error`` set instead of stopping the batch."""
    settings = settings or VisionSettings()
    jobs = [(str(s), settings, embed) for s in sources]
    if workers <= 1 or len(jobs) <= 1:
        results: Iterable[FileResult] = map(_file_result, jobs)
        for r in results:
            if on_result:
                on_result(r)
            yield r
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=limit_blas_threads) as pool:
        for r in pool.map(_file_result, jobs, chunksize=4):
            if on_result:
                on_result(r)
            yield r


def _file_result(job: tuple[str, VisionSettings, bool]) -> FileResult:
    source, settings, embed = job
    try:
        image = load_image(source, settings.decode)
    except ConsentcamError as exc:
        return FileResult(source, (), (), str(exc))
    try:
        faces = image_faces(image, settings, embed=embed)
    except InputError as exc:
        return FileResult(source, image.shape, (), str(exc))
    return FileResult(source, image.shape, tuple(faces))


def limit_blas_threads() -> None:
    """Worker processes each use one BLAS thread: parallelism comes from the processes, and
    oversubscribing the cores makes both slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)
