"""Large images are decoded reduced to what detection needs, within a memory bound (issue 13,
item 4), and the enrolment quality gate still measures the face correctly on them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from consentcam.config import DecodeSettings, VisionSettings
from consentcam.vision import decode
from consentcam.vision.decode import load_image
from consentcam.vision.faces import enrolment_face

# Peak RSS growth of a child process while it decodes one image, in MiB. Before the reduced
# decode, both images below took about 680 MiB (a full-size Pillow image, a full-size copy for
# the colour conversion and a full-size array); the reduced decode needs about 190 (PNG) and
# 100 (JPEG). The bound is generous for a noisy machine and still far under the old figure.
MAX_DECODE_GROWTH_MIB = 320

# VmHWM is the process's own peak RSS (ru_maxrss would carry the parent's over the exec).
_MEASURE = """
import json, sys
from consentcam.vision.decode import load_image
def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
before = peak_kib()
image = load_image(sys.argv[1])
print(json.dumps({"growth_kib": peak_kib() - before, "shape": list(image.shape)}))
"""


@pytest.fixture(scope="module")
def large_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The review's two files: a 6300 x 6300 PNG of a little over 100 KB (under the 40 Mpx
    limit) and a 6000 x 6600 JPEG."""
    folder = tmp_path_factory.mktemp("large")
    png = folder / "flat.png"
    Image.new("RGB", (6300, 6300), (120, 130, 140)).save(png, format="PNG")
    jpeg = folder / "wide.jpg"
    small = np.random.default_rng(13).integers(0, 255, (66, 60, 3), dtype=np.uint8)
    Image.fromarray(small).resize((6000, 6600)).save(jpeg, format="JPEG", quality=85)
    return {"png": png, "jpeg": jpeg}


def _decode_in_child(path: Path) -> dict[str, Any]:
    """Decode ``path`` in a fresh interpreter; its peak RSS growth and the array's shape."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
@pytest.mark.parametrize(("kind", "shape"), [("png", [3150, 3150, 3]), ("jpeg", [3300, 3000, 3])])
def test_large_images_decode_reduced_under_a_memory_bound(
    large_images: dict[str, Path], kind: str, shape: list[int]
) -> None:
    result = _decode_in_child(large_images[kind])
    growth_mib = result["growth_kib"] / 1024
    assert growth_mib < MAX_DECODE_GROWTH_MIB, f"decoding took {growth_mib:.0f} MiB"
    assert result["shape"] == shape


def _encoded(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def test_reduction_keeps_the_longest_side_at_or_above_max_side() -> None:
    """An integer factor, never below ``max_side``: 5200 // 2560 = 2, so 5200 x 300 becomes
    2600 x 150; 5119 px is left alone (a factor of 2 would go below 2560)."""
    settings = DecodeSettings()
    assert settings.max_side == 2560
    wide = _encoded(Image.new("RGB", (5200, 300), (10, 20, 30)), "PNG")
    assert load_image(wide).shape == (150, 2600, 3)
    assert load_image(wide)[0, 0].tolist() == [10, 20, 30]
    narrow = _encoded(Image.new("RGB", (5119, 30)), "PNG")
    assert load_image(narrow).shape == (30, 5119, 3)
    assert load_image(wide, DecodeSettings(max_side=0)).shape == (300, 5200, 3)
    assert load_image(wide, DecodeSettings(max_side=1000)).shape == (60, 1040, 3)


def test_reduced_jpeg_keeps_its_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = _encoded(Image.new("RGB", (6000, 3000), (200, 0, 0)), "JPEG", exif=exif.tobytes())
    image = load_image(data)
    assert image.shape == (3000, 1500, 3)  # draft mode (1/2), then turned upright
    assert abs(int(image[10, 10, 0]) - 200) < 8


@pytest.mark.parametrize(
    ("img", "rgb"),
    [
        (Image.new("L", (5200, 6), 100), [100, 100, 100]),
        (Image.new("1", (5200, 6), 1), [255, 255, 255]),
        (Image.new("RGBA", (5200, 6), (0, 0, 0, 0)), [255, 255, 255]),
        (Image.new("LA", (5200, 6), (0, 255)), [0, 0, 0]),
        (Image.new("I;16", (5200, 6), 65535), [255, 255, 255]),
        (Image.new("I;16", (5200, 6), 257 * 40), [40, 40, 40]),
    ],
    ids=["grey", "1-bit", "transparent", "grey-alpha", "16-bit white", "16-bit grey"],
)
def test_every_mode_reduces_to_the_same_colours(img: Image.Image, rgb: list[int]) -> None:
    image = load_image(_encoded(img, "PNG"))
    assert image.shape == (3, 2600, 3)
    assert image[1, 1].tolist() == rgb


def test_reduced_palette_image_keeps_its_colours() -> None:
    palette = Image.new("P", (5200, 6))
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    palette.paste(1, (0, 0, 5200, 6))
    image = load_image(_encoded(palette, "PNG"))
    assert image.shape == (3, 2600, 3) and image[1, 1].tolist() == [10, 20, 30]


def test_a_member_photo_enlarged_five_times_still_passes_the_quality_gate(photos: Path) -> None:
    """The gate measures the face in the decoded (reduced) image: a face five times larger in a
    4550 x 5685 photo, decoded at half size, is 2.5 times the original's and still the same
    person."""
    settings = VisionSettings()
    original = enrolment_face(photos / "obama.jpg", settings)
    big = Image.open(photos / "obama.jpg").resize((910 * 5, 1137 * 5), Image.Resampling.BICUBIC)
    enlarged = enrolment_face(_encoded(big, "JPEG", quality=92), settings)
    assert enlarged.quality.ok
    ratio = enlarged.quality.face_px / original.quality.face_px
    assert 2.0 < ratio < 2.8
    assert original.embedding is not None and enlarged.embedding is not None
    assert float(np.linalg.norm(original.embedding - enlarged.embedding)) < 0.25


def test_concurrent_decodes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most ``max_concurrent`` images are decoded at full size at once in one process: the
    decoder's memory is bounded however many enrolments arrive together."""
    busy, peak, lock = [0], [0], threading.Lock()
    original = decode._decoded

    def slow(*args: Any) -> Any:
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
        time.sleep(0.05)
        try:
            return original(*args)
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(decode, "_decoded", slow)
    data = _encoded(Image.new("RGB", (64, 48)), "PNG")
    settings = DecodeSettings(max_concurrent=2)
    threads = [threading.Thread(target=load_image, args=(data, settings)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2
