from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from consentcam.config import DecodeSettings
from consentcam.errors import InputError, NotFound
from consentcam.vision.decode import load_image


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    return buf.getvalue()


_SMALL_JPEG = _jpeg(Image.new("RGB", (32, 24), (200, 120, 40)))


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` with almost no pixel data (a bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def test_loads_jpeg_as_contiguous_rgb(photos: Path) -> None:
    img = load_image(photos / "obama.jpg")
    assert img.shape == (1137, 910, 3)
    assert img.dtype == np.uint8
    assert img.flags.c_contiguous


def test_same_pixels_from_path_bytes_and_stream(photos: Path) -> None:
    path = photos / "biden.jpg"
    a = load_image(path)
    b = load_image(path.read_bytes())
    with path.open("rb") as fh:
        c = load_image(fh)
    assert np.array_equal(a, b) and np.array_equal(a, c)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"hello, this is not an image\n" * 10, "not a recognised image"),
        (b"GIF89a" + b"\0" * 40, "not a recognised image|unsupported image format"),
    ],
)
def test_unusable_bytes_raise_input_error(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_image(data)


def test_gif_is_refused_as_unsupported() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="GIF")
    with pytest.raises(InputError, match="unsupported image format GIF"):
        load_image(buf.getvalue())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_files_raise_input_error(photos: Path, fmt: str) -> None:
    buf = io.BytesIO()
    Image.open(photos / "obama_small.jpg").save(buf, format=fmt)
    data = buf.getvalue()
    with pytest.raises(InputError, match=r"corrupt or truncated|not a recognised"):
        load_image(data[: len(data) // 2])


def test_corrupted_jpeg_body_raises_input_error(photos: Path) -> None:
    data = bytearray((photos / "obama_small.jpg").read_bytes())
    data[200:] = b"\xff" * (len(data) - 200)
    with pytest.raises(InputError):
        load_image(bytes(data))


def test_decompression_bomb_refused_before_decoding() -> None:
    bomb = _png_header_only(60_000, 60_000)
    with pytest.raises(InputError, match="over the 40000000-pixel limit"):
        load_image(bomb)


def test_pixel_limit_is_configurable() -> None:
    data = _png(Image.new("RGB", (200, 100)))
    assert load_image(data, DecodeSettings(max_pixels=20_000)).shape == (100, 200, 3)
    with pytest.raises(InputError, match=r"over the 19999-pixel limit"):
        load_image(data, DecodeSettings(max_pixels=19_999))


def test_byte_limit_is_enforced(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(_png(Image.new("RGB", (64, 64))))
    with pytest.raises(InputError, match="byte limit"):
        load_image(path, DecodeSettings(max_bytes=10))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        load_image(tmp_path / "absent.jpg")
    with pytest.raises(InputError, match="not a regular file"):
        load_image(tmp_path)


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes())
    assert load_image(buf.getvalue()).shape == (40, 20, 3)


def test_greyscale_palette_alpha_and_16_bit_become_rgb() -> None:
    grey = _png(Image.new("L", (8, 6), 100))
    assert np.all(load_image(grey) == 100)

    palette = Image.new("P", (8, 6))
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    palette.putdata([1] * 48)
    assert load_image(_png(palette))[0, 0].tolist() == [10, 20, 30]

    rgba = Image.new("RGBA", (8, 6), (0, 0, 0, 0))  # fully transparent: composited on white
    assert load_image(_png(rgba))[0, 0].tolist() == [255, 255, 255]

    deep = Image.fromarray(np.full((6, 8), 65535, dtype=np.uint16))
    out = load_image(_png(deep))
    assert out.dtype == np.uint8 and out.shape == (6, 8, 3) and np.all(out == 255)


def test_webp_loads() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 128, 255)).save(buf, format="WEBP", lossless=True)
    assert load_image(buf.getvalue())[0, 0].tolist() == [0, 128, 255]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_give_an_image_or_input_error(data: bytes) -> None:
    try:
        img = load_image(data)
    except InputError:
        return
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2000), st.binary(min_size=1, max_size=64))
def test_mutated_jpeg_gives_an_image_or_input_error(offset: int, junk: bytes) -> None:
    base = bytearray(_SMALL_JPEG)
    pos = min(offset, len(base) - 1)
    base[pos : pos + len(junk)] = junk
    try:
        img = load_image(bytes(base))
    except InputError:
        return
    assert img.dtype == np.uint8 and img.shape[2] == 3
