"""The end-to-end demo on bundled public-domain photos: enrol one person from one photo, identify
them in another, and report a different person as unknown.

Everything stays in memory: the demo writes nothing to disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from consentcam.config import VisionSettings
from consentcam.match.scores import decide, search
from consentcam.model_card import model_card
from consentcam.vision.faces import enrolment_face, file_faces

SAMPLE_MEMBER = ("Barack Obama (sample member)", "obama.jpg")
SAMPLE_PROBES = ("obama2.jpg", "biden.jpg")


def sample_photo(name: str) -> Path:
    return Path(str(resources.files("consentcam").joinpath("data", name)))


@dataclass(frozen=True, slots=True)
class Identification:
    photo: str
    member: str | None
    distance: float | None
    threshold: float


def run_demo(settings: VisionSettings | None = None) -> dict[str, Any]:
    settings = settings or VisionSettings()
    card = model_card()
    name, photo = SAMPLE_MEMBER
    member = enrolment_face(sample_photo(photo), settings)
    gallery = np.stack([member.vector])
    names = [name]
    threshold = card.identification_threshold(len(names))
    results = []
    for probe in SAMPLE_PROBES:
        faces = file_faces(sample_photo(probe), settings)
        best = search(gallery, faces[0].vector, k=1) if faces else []
        hit = best[0] if best and bool(decide(best[0].distance, threshold)) else None
        results.append(
            Identification(
                photo=probe,
                member=names[hit.index] if hit else None,
                distance=round(best[0].distance, 4) if best else None,
                threshold=round(threshold, 4),
            )
        )
    return {
        "enrolled": {"member": name, "photo": photo, "quality": member.quality.as_dict()},
        "identified": [_as_dict(r) for r in results],
        "stored": "nothing: the demo keeps its one-person gallery in memory",
        "model_card": card.version,
    }


def _as_dict(r: Identification) -> dict[str, Any]:
    return {"photo": r.photo, "member": r.member, "distance": r.distance, "threshold": r.threshold}
