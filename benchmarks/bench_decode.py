#!/usr/bin/env python
"""Memory and time of decoding (and enrolling from) large images: reduced decode against full.

Builds the review's files (issue 13, item 4) in a temporary folder: a 6300 x 6300 PNG of about
130 KB, a 6000 x 6600 JPEG, a lossless 6300 x 6300 WebP, and a 6300 x 6300 PNG holding a member's
photo enlarged five times. Each is decoded in a fresh interpreter twice in the same run, with
the default ``DecodeSettings`` (reduced: JPEG draft mode, ``Image.reduce``) and with
``max_side=0`` (full size, the old behaviour); peak RSS growth is the child's VmHWM (Linux) after
the decode minus before it. With ``--enrol`` the child runs the whole enrolment step
(``enrolment_face``: decode, detect, landmarks, quality gate, embedding) instead, models loaded
before the measurement. The last line printed is one JSON document.

Usage: python benchmarks/bench_decode.py [--enrol] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO.parent / "shared" / "data" / "public-domain" / "obama.jpg"

_CHILD = """
import json, sys, time
from consentcam.config import DecodeSettings, VisionSettings
from consentcam.errors import InputError

def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

path, max_side, enrol = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
settings = VisionSettings(decode=DecodeSettings(max_side=max_side))
result = {}
if enrol:
    from consentcam.vision.faces import enrolment_face
    try:
        enrolment_face(sys.argv[4], settings)  # models load outside the measurement
    except InputError:
        pass
before, started = peak_kib(), time.perf_counter()
if enrol:
    try:
        face = enrolment_face(path, settings)
        result["face_px"] = face.quality.face_px
        result["quality_ok"] = face.quality.ok
    except InputError as exc:
        result["refused"] = str(exc).rsplit(": ", 1)[-1]
else:
    from consentcam.vision.decode import load_image
    result["shape"] = list(load_image(path, settings.decode).shape)
result["seconds"] = round(time.perf_counter() - started, 3)
result["peak_growth_mib"] = round((peak_kib() - before) / 1024, 1)
print(json.dumps(result))
"""


def build_images(folder: Path) -> dict[str, Path]:
    import numpy as np
    from PIL import Image

    files = {
        "png_6300x6300_flat": folder / "flat.png",
        "jpeg_6000x6600": folder / "wide.jpg",
        "webp_6300x6300_lossless": folder / "flat.webp",
        "png_6300x6300_member_x5": folder / "member.png",
    }
    flat = Image.new("RGB", (6300, 6300), (120, 130, 140))
    flat.save(files["png_6300x6300_flat"], format="PNG")
    flat.save(files["webp_6300x6300_lossless"], format="WEBP", lossless=True)
    noise = np.random.default_rng(13).integers(0, 255, (66, 60, 3), dtype=np.uint8)
    Image.fromarray(noise).resize((6000, 6600)).save(files["jpeg_6000x6600"], quality=85)
    if PHOTO.exists():
        with Image.open(PHOTO) as photo:
            big = photo.convert("RGB").resize((photo.width * 5, photo.height * 5))
        flat.paste(big, (800, 300))
        flat.save(files["png_6300x6300_member_x5"], format="PNG")
    else:
        del files["png_6300x6300_member_x5"]
    return files


def measure(path: Path, max_side: int, enrol: bool) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(max_side), "1" if enrol else "0", str(PHOTO)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrol", action="store_true", help="Measure enrolment, not decoding.")
    parser.add_argument("--json", action="store_true", help="Only the JSON document.")
    args = parser.parse_args()
    if not Path("/proc/self/status").exists():
        sys.exit("bench_decode reads peak memory from Linux's /proc/self/status")
    from consentcam.config import DecodeSettings

    defaults = DecodeSettings()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-decode-") as tmp:
        for name, path in build_images(Path(tmp)).items():
            reduced = measure(path, defaults.max_side, args.enrol)
            full = measure(path, 0, args.enrol)
            row = {
                "image": name,
                "bytes": path.stat().st_size,
                "reduced": reduced,
                "full": full,
                "memory_ratio": round(
                    reduced["peak_growth_mib"] / max(full["peak_growth_mib"], 0.1), 3
                ),
            }
            rows.append(row)
            if not args.json:
                print(
                    f"{name}: reduced {reduced['peak_growth_mib']} MiB {reduced['seconds']} s, "
                    f"full {full['peak_growth_mib']} MiB {full['seconds']} s",
                    file=sys.stderr,
                )
    document = {
        "what": "enrolment_face" if args.enrol else "load_image",
        "max_side": defaults.max_side,
        "max_pixels": defaults.max_pixels,
        "max_concurrent": defaults.max_concurrent,
        "rows": rows,
    }
    print(json.dumps(document))


if __name__ == "__main__":
    main()
