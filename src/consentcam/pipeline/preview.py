"""A camera's setup preview: one current frame with every face blurred, for placing the camera
and drawing its counting line.

Privacy (docs/privacy-invariants.md, invariant 2): the frame leaves this module only as JPEG
bytes in which every face the detector finds, searched for more eagerly than the camera worker
does (upsampled, with a lowered threshold, and again on the blurred result), is covered by a
heavy pixelation with a wide margin. The frame and the JPEG are kept in memory only: nothing of
them is written to disk, the store, the log or an event. The audit entry (``camera.preview``)
records who looked at which camera and how many regions were blurred, never the image.

A source opened here is the camera's own source, opened as its worker opens it: unsealed from
the store and checked against the camera source rule again at open (``pipeline.sources``). A
live source that sends no frame within ``timeout_s`` is closed and reported in words.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from consentcam.audit import chain
from consentcam.config import DetectSettings, Settings
from consentcam.consent.context import Ledger, camera_by_ref
from consentcam.consent.sites import camera_source, camera_source_policy
from consentcam.errors import PolicyError, SourceError
from consentcam.pipeline.sources import open_source
from consentcam.store.models import Site
from consentcam.vision import models
from consentcam.vision.detect import DETECTORS, downscaled
from consentcam.vision.records import Box, ImageArray

FRAME_TIMEOUT_S = 10.0
# The JPEG's longest side: enough to place a camera and draw a line, and no more detail than
# that needs.
PREVIEW_MAX_SIDE = 1280
JPEG_QUALITY = 80
# Detection for blurring errs towards finding too much: a false face costs a blurred patch of
# wall, a missed one a recognisable person. The HOG threshold is lowered below dlib's default
# (0), faces from about 20 px are found (upsampled twice), and each box grows by MARGIN of its
# size on every side (dlib's boxes are tight: brow to lip, ear to ear, hair and chin outside).
HOG_THRESHOLD = -0.4
UPSAMPLE = 2
# The search sees the picture at the size it is sent (PREVIEW_MAX_SIDE): a face too small to be
# found there (under about 20 px) is too small to be recognised there.
DETECT_MAX_SIDE = PREVIEW_MAX_SIDE
MARGIN = 0.5
# A blurred region is reduced to at most this many cells across before it is smoothed: too few
# for features, enough to show that someone is there.
CELLS = 6
# The blurred image is searched again; what is found then is blurred too, up to this many
# passes, and a face still found after them refuses the preview rather than show it.
PASSES = 3


@dataclass(frozen=True, slots=True)
class Preview:
    """One blurred frame of a camera: ``jpeg`` (at most PREVIEW_MAX_SIDE on its longest side),
    the camera frame's own ``width`` and ``height`` in pixels, and the regions blurred."""

    camera_id: str
    camera: str
    jpeg: bytes
    width: int
    height: int
    faces_blurred: int


def camera_preview(
    ledger: Ledger,
    camera_ref: str,
    site_name: str | None = None,
    *,
    timeout_s: float = FRAME_TIMEOUT_S,
) -> Preview:
    """One current frame of the camera with every face blurred, as JPEG bytes; audited as
    ``camera.preview``. ``SourceError`` (in words) when the source cannot be opened or sends no
    frame within ``timeout_s``; ``PolicyError`` when the camera source rule refuses it now.

    Any camera of the tenant may be previewed whatever its mode: nothing is recognised here,
    and an installer places a door camera before its signs are up."""
    with ledger.store.transaction() as s:
        camera = camera_by_ref(s, camera_ref, site_name, ledger.tenant_id(s))
        site = s.get(Site, camera.site_id)
        assert site is not None  # foreign key
        camera_id, name, site_name = camera.id, camera.name, site.name
        tenant_id = site.tenant_id
        source = camera_source(ledger.keys, camera, tenant_id)
    image = current_frame(source, name, ledger.settings, timeout_s=timeout_s)
    height, width = image.shape[:2]
    blurred, regions = blurred_faces(image, ledger.settings.vision.detect)
    del image  # the unblurred frame goes no further than this function
    jpeg = jpeg_bytes(blurred)
    with ledger.store.transaction() as s:
        chain.append(
            s,
            actor=ledger.actor,
            action="camera.preview",
            subject=camera_id,
            details={"site": site_name, "camera": name, "faces_blurred": regions},
            tenant_id=tenant_id,
        )
    return Preview(camera_id, name, jpeg, width, height, regions)


def current_frame(
    source: str, camera: str, settings: Settings, *, timeout_s: float = FRAME_TIMEOUT_S
) -> ImageArray:
    """The first frame the camera's source delivers now (a file's or folder's first frame)."""
    opened = open_source(source, camera, settings.source, policy=camera_source_policy(settings))
    # A live source waits for its reader; closing it from a timer ends that wait, so a camera
    # that connects and then sends nothing cannot hold the request for ever.
    timer = threading.Timer(timeout_s, opened.close)
    timer.daemon = True
    timer.start()
    try:
        frame = next(iter(opened.frames()), None)
    finally:
        timer.cancel()
        opened.close()
    if frame is None:
        raise SourceError(
            f"camera {camera!r}: no frame arrived within {timeout_s:g} s (is the camera streaming?)"
        )
    return frame.image


def blurred_faces(
    image: ImageArray, settings: DetectSettings | None = None
) -> tuple[ImageArray, int]:
    """A copy of ``image`` with every face found blurred beyond recognition, and the number of
    regions blurred. Searches again after each pass; ``SourceError`` if a face survives
    PASSES passes (``PolicyError``: the preview is refused rather than shown)."""
    settings = settings or DetectSettings()
    out = np.array(image, dtype=np.uint8, copy=True)
    regions = 0
    for _ in range(PASSES):
        boxes = face_boxes(out, settings)
        if not boxes:
            return out, regions
        for box in boxes:
            blur_region(out, widened(box, out.shape, MARGIN))
        regions += len(boxes)
    if face_boxes(out, settings):
        raise PolicyError("the preview still shows a face after blurring, so it is not shown")
    return out, regions


def face_boxes(image: ImageArray, settings: DetectSettings) -> list[Box]:
    """Every face the sensitive search finds, in ``image``'s pixels: the HOG detector with a
    lowered threshold, and the configured detector too when it is another one."""
    small, factor = downscaled(image, DETECT_MAX_SIDE)
    rects, _, _ = models.hog_detector().run(small, UPSAMPLE, HOG_THRESHOLD)
    boxes = [Box(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
    if settings.type != "hog":
        boxes += [d.box for d in DETECTORS[settings.type](small, settings.upsample)]
    return [b.scaled(1 / factor) if factor != 1.0 else b for b in boxes]


def widened(box: Box, shape: tuple[int, ...], margin: float) -> Box:
    """``box`` grown by ``margin`` of its size on every side, clipped to the image."""
    dx, dy = round(box.width * margin), round(box.height * margin)
    height, width = shape[0], shape[1]
    return Box(
        max(box.left - dx, 0),
        max(box.top - dy, 0),
        min(box.right + dx, width),
        min(box.bottom + dy, height),
    )


def blur_region(image: ImageArray, box: Box) -> None:
    """Pixelate ``box`` of ``image`` in place to at most CELLS cells across, then smooth it."""
    if box.width <= 0 or box.height <= 0:
        return
    patch = Image.fromarray(image[box.top : box.bottom, box.left : box.right])
    cell = max(box.width, box.height) / CELLS
    coarse = (max(1, round(box.width / cell)), max(1, round(box.height / cell)))
    patch = patch.resize(coarse, Image.Resampling.BOX).resize(
        (box.width, box.height), Image.Resampling.NEAREST
    )
    patch = patch.filter(ImageFilter.GaussianBlur(radius=max(2.0, cell / 2)))
    image[box.top : box.bottom, box.left : box.right] = np.asarray(patch)


def jpeg_bytes(image: ImageArray, max_side: int = PREVIEW_MAX_SIDE) -> bytes:
    """``image`` as JPEG bytes (built in memory), its longest side at most ``max_side``."""
    small, _ = downscaled(image, max_side)
    out = io.BytesIO()
    Image.fromarray(small).save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
