"""Image decoding: every supported input becomes a C-contiguous uint8 RGB array.

Bad files (empty, truncated, not an image, an unsupported format, too many pixels) raise one
``InputError`` naming the file and the reason; Pillow's own exceptions never escape.

Large images are decoded reduced (``DecodeSettings.max_side``): a JPEG in libjpeg's draft mode,
which never builds the full-size image, anything else by a whole factor (``Image.reduce``) before
any conversion or array is made. Faces stay large enough for the quality gate, and one decode
holds at most about 8 bytes per declared pixel; ``max_concurrent`` decodes run at once per
process, so the decoder's memory is bounded whatever the load (see docs/reliability.md).
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from consentcam.config import DecodeSettings
from consentcam.errors import InputError, NotFound
from consentcam.vision.records import ImageArray

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP")

ImageSource = str | Path | bytes | BinaryIO


def load_image(source: ImageSource, settings: DecodeSettings | None = None) -> ImageArray:
    """Decode ``source`` (a path, raw bytes or a binary file object) to an RGB uint8 array.

    EXIF orientation is applied; greyscale, palette, alpha, CMYK and 16-bit images are
    normalised to 8-bit RGB (alpha is composited onto white, the way a printed photo looks).
    """
    settings = settings or DecodeSettings()
    name = _source_name(source)
    data = _read_bytes(source, name, settings.max_bytes)
    if not data:
        raise InputError(f"{name}: empty file (0 bytes), not an image")
    with _decode_slots(settings.max_concurrent):
        return _decoded(data, name, settings)


_SLOTS: dict[int, threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


def _decode_slots(limit: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore for ``limit`` concurrent decodes (one per configured limit:
    one in practice). Enrolments arrive on many API threads at once; without it, each could
    hold a full-size decode at the same moment."""
    with _SLOTS_LOCK:
        return _SLOTS.setdefault(limit, threading.BoundedSemaphore(limit))


def _decoded(data: bytes, name: str, settings: DecodeSettings) -> ImageArray:
    # Pillow's own bomb guard warns below 2x its limit and only errors above; we check the header
    # against our configured limit ourselves, before any pixel is decoded.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            # A truncated file must be refused, never padded with grey: Pillow's switch for that
            # is process-wide, and face_recognition (the benchmark anchor) turns it on when
            # imported, so it is set back here rather than trusted.
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            with Image.open(io.BytesIO(data)) as img:
                _check_header(img, name, settings.max_pixels)
                _draft(img, settings.max_side)
                img.load()
                small = _reduced(img, settings.max_side)
                if small is not img:
                    img.close()  # the full-size pixels go before the conversions below
                return _to_rgb_array(_upright(small))
        except InputError:
            raise
        except UnidentifiedImageError:
            raise InputError(
                f"{name}: not a recognised image (supported: JPEG, PNG, WebP)"
            ) from None
        except Image.DecompressionBombError:
            # Pillow refuses far-oversized headers itself, before our check can run.
            raise InputError(
                f"{name}: image has too many pixels, over the {settings.max_pixels}-pixel limit "
                "(decompression bomb?)"
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InputError(f"{name}: corrupt or truncated image ({_reason(exc)})") from None


def _source_name(source: ImageSource) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, bytes):
        return "<bytes>"
    return str(getattr(source, "name", "<stream>"))


def _read_bytes(source: ImageSource, name: str, max_bytes: int) -> bytes:
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, (str, Path)):
        path = Path(source)
        try:
            if not path.exists():
                raise NotFound(f"{name}: no such file")
            if not path.is_file():
                raise InputError(f"{name}: not a regular file")
            size = path.stat().st_size
            if size > max_bytes:
                raise InputError(f"{name}: file is {size} bytes, over the {max_bytes}-byte limit")
            data = path.read_bytes()
        except OSError as exc:  # a name too long, no permission, an I/O error
            raise InputError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    else:
        data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(f"{name}: image data is over the {max_bytes}-byte limit")
    return data


def _check_header(img: Image.Image, name: str, max_pixels: int) -> None:
    if img.format not in SUPPORTED_FORMATS:
        raise InputError(
            f"{name}: unsupported image format {img.format} (supported: JPEG, PNG, WebP)"
        )
    width, height = img.size
    if width <= 0 or height <= 0:
        raise InputError(f"{name}: image has no pixels")
    if width * height > max_pixels:
        raise InputError(
            f"{name}: image is {width}x{height} = {width * height} pixels, over the "
            f"{max_pixels}-pixel limit (decompression bomb?)"
        )


def _draft(img: Image.Image, max_side: int) -> None:
    """Ask libjpeg to decode a large JPEG at 1/2, 1/4 or 1/8 scale, the smallest that keeps the
    longest side at or above ``max_side`` (the full-size image is then never in memory)."""
    width, height = img.size
    longest = max(width, height)
    if img.format != "JPEG" or max_side <= 0 or longest < 2 * max_side:
        return
    scale = max_side / longest
    img.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))


_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L")


def _reduced(img: Image.Image, max_side: int) -> Image.Image:
    """``img`` shrunk by the largest whole factor that keeps its longest side at or above
    ``max_side`` (box averaging: each output pixel is the mean of a factor x factor block).
    Done before any conversion, so conversions and the array are made at the reduced size."""
    factor = max(img.size) // max_side if max_side > 0 else 1
    if factor < 2:
        return img
    if img.mode == "1":
        return img.convert("L").reduce(factor)
    if img.mode in ("P", "PA"):
        # Palette indices cannot be averaged: colours first (alpha kept for the compositing).
        alpha = img.mode == "PA" or "transparency" in img.info
        return img.convert("RGBA" if alpha else "RGB").reduce(factor)
    if img.mode in _SIXTEEN_BIT:
        # Pillow reduces 32-bit integers, not 16-bit ones; back to 16 bits after, so the
        # conversion to 8 bits below still scales by the 16-bit range.
        return img.convert("I").reduce(factor).convert("I;16")
    return img.reduce(factor)


def _upright(img: Image.Image) -> Image.Image:
    """``img`` turned as its EXIF orientation says (in place: no copy when there is none)."""
    ImageOps.exif_transpose(img, in_place=True)
    return img


def _to_rgb_array(img: Image.Image) -> ImageArray:
    if img.mode in (*_SIXTEEN_BIT, "I", "F"):
        # 16-bit and 32-bit greyscale: scale the actual range to 0..255 rather than clipping.
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        grey = np.clip(arr * (255.0 / hi), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
