"""Image decoding: every supported input becomes a C-contiguous uint8 RGB array.

Bad files (empty, truncated, not an image, an unsupported format, too many pixels) raise one
``InputError`` naming the file and the reason; Pillow's own exceptions never escape.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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
    # Pillow's own bomb guard warns below 2x its limit and only errors above; we check the header
    # against our configured limit ourselves, before any pixel is decoded.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                _check_header(img, name, settings.max_pixels)
                img.load()
                return _to_rgb_array(ImageOps.exif_transpose(img))
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


def _to_rgb_array(img: Image.Image) -> ImageArray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and 32-bit greyscale: scale the actual range to 0..255 rather than clipping.
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        grey = np.clip(arr * (255.0 / hi), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
