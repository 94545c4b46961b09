"""The bundled public-domain sample photos (``consentcam/data``), for the demo, the simulated
door camera and the tests.

A low module on purpose: the demo (near the top) and the pipeline's simulated camera (below it)
both need the photos, and neither may import the other.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# Barack Obama: enrolled from MEMBER_PHOTO, he walks through the door in WALKER_PHOTO.
MEMBER_PHOTO = "obama.jpg"
WALKER_PHOTO = "obama2.jpg"
# Joe Biden, who never consents: the passer-by.
PASSER_BY_PHOTO = "biden.jpg"


def sample_photo(name: str) -> Path:
    """The path of the bundled photo ``name`` (e.g. ``obama.jpg``)."""
    return Path(str(resources.files("consentcam").joinpath("data", name)))
