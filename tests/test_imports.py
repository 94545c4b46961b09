from __future__ import annotations

import subprocess
import sys


def test_import_loads_no_model_or_heavy_library() -> None:
    code = (
        "import sys, consentcam, consentcam.vision, consentcam.match, consentcam.cli.main;"
        "heavy = [m for m in ('dlib', 'matplotlib', 'face_recognition_models')"
        " if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
