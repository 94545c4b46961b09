"""Where things are: the repository, and the public-domain photos and LFW in ../shared/data."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
PUBLIC_DOMAIN = SHARED_DATA / "public-domain"
LFW_ROOT = SHARED_DATA / "lfw"
