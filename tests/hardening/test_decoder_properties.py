"""Property tests of the image decoder, beyond tests/vision/test_decode.py (which feeds it
arbitrary short byte strings and mutated JPEGs): damaged PNG and WebP files, truncation at any
point, headers declaring any size, and the three ways to pass an image agreeing.

The property throughout: ``load_image`` returns an RGB uint8 array or raises ``InputError``;
nothing else, and never a decode of more pixels than the configured limit."""

from __future__ import annotations

import io
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from consentcam.config import DecodeSettings
from consentcam.errors import InputError
from consentcam.vision.decode import load_image
from tests.hardening.corpus import encoded, png_chunk

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_PIXELS = np.random.default_rng(5).integers(0, 256, (24, 32, 3), dtype=np.uint8)
SAMPLES = {
    "PNG": encoded(Image.fromarray(_PIXELS), "PNG"),
    "WEBP-lossy": encoded(Image.fromarray(_PIXELS), "WEBP"),
    "WEBP-lossless": encoded(Image.fromarray(_PIXELS), "WEBP", lossless=True),
    "JPEG-progressive": encoded(Image.fromarray(_PIXELS), "JPEG", progressive=True),
    "PNG-grey-alpha": encoded(Image.fromarray(_PIXELS).convert("LA"), "PNG"),
}


def outcome(data: Any, limits: DecodeSettings | None = None) -> tuple[int, ...] | str:
    """The decoded shape, or "refused"; fails the test on anything else."""
    try:
        img = load_image(data, limits)
    except InputError:
        return "refused"
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.flags.c_contiguous
    return tuple(img.shape)


@PROPERTY
@given(
    st.sampled_from(sorted(SAMPLES)),
    st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=16)), max_size=4),
)
def test_damaged_files_decode_or_are_refused(kind: str, damage: list[tuple[int, bytes]]) -> None:
    data = bytearray(SAMPLES[kind])
    for offset, junk in damage:
        at = offset % len(data)
        data[at : at + len(junk)] = junk
    outcome(bytes(data))


@PROPERTY
@given(st.sampled_from(sorted(SAMPLES)), st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_anywhere_is_refused_or_complete(kind: str, fraction: float) -> None:
    """Cut short anywhere: refused, unless only trailing bytes after the last pixel went (a
    PNG without its IEND), and then the pixels are exactly the whole file's: nothing made up."""
    data = SAMPLES[kind]
    cut = data[: int(len(data) * fraction)]
    try:
        img = load_image(cut)
    except InputError:
        return
    assert np.array_equal(img, load_image(data)), f"{kind} cut at {len(cut)}/{len(data)}"


def _png_declaring(
    width: int, height: int, colour_type: int, bit_depth: int, crc_ok: bool
) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunk = png_chunk(b"IHDR", ihdr)
    if not crc_ok:
        chunk = chunk[:-4] + bytes(4)
    return b"\x89PNG\r\n\x1a\n" + chunk + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))


@PROPERTY
@given(
    st.integers(1, 2**31 - 1),
    st.integers(1, 2**31 - 1),
    st.sampled_from([(0, 1), (0, 8), (2, 8), (3, 8), (6, 8), (0, 16), (6, 16)]),
    st.booleans(),
)
def test_any_declared_size_is_checked_before_decoding(
    width: int, height: int, kind: tuple[int, int], crc_ok: bool
) -> None:
    """A header may claim anything: over the limit it is refused without one pixel decoded;
    under it, the missing pixel data is a refusal too (or an image)."""
    data = _png_declaring(width, height, *kind, crc_ok=crc_ok)
    limits = DecodeSettings(max_pixels=1_000_000)
    with pytest.MonkeyPatch.context() as patch:
        loads: list[int] = []
        original = ImageFile.ImageFile.load

        def spy(self: ImageFile.ImageFile) -> Any:
            loads.append(self.size[0] * self.size[1])
            return original(self)

        patch.setattr(ImageFile.ImageFile, "load", spy)
        result = outcome(data, limits)
    assert all(n <= limits.max_pixels for n in loads), "decoded past the pixel limit"
    if width * height > limits.max_pixels:
        assert result == "refused"


@PROPERTY
@given(st.sampled_from(sorted(SAMPLES)), st.integers(0, 2_000), st.binary(max_size=8))
def test_path_bytes_and_stream_agree(kind: str, offset: int, junk: bytes) -> None:
    data = bytearray(SAMPLES[kind])
    at = offset % len(data)
    data[at : at + len(junk)] = junk
    blob = bytes(data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "image.bin"
        path.write_bytes(blob)
        results = {outcome(blob), outcome(path), outcome(str(path)), outcome(io.BytesIO(blob))}
    assert len(results) == 1, results


@PROPERTY
@given(st.binary(min_size=1, max_size=4096))
def test_bytes_after_a_valid_signature(tail: bytes) -> None:
    """Random bytes behind each format's magic number: the parser's hardest inputs, and none
    of them reach the tests of arbitrary bytes by chance."""
    for magic in (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"RIFF\x00\x10\x00\x00WEBPVP8 "):
        outcome(magic + tail)


def test_truncated_files_are_refused_even_after_a_library_allows_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """face_recognition sets Pillow's process-wide LOAD_TRUNCATED_IMAGES on import; the
    decoder must still refuse a cut file rather than return grey padding."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = SAMPLES["JPEG-progressive"]
    with pytest.raises(InputError, match="truncated"):
        load_image(data[: len(data) // 2])
