"""Fixtures for pipeline tests: a site, enrolled members and cameras (the clips are in
tests/conftest.py, shared with the CLI tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from consentcam.config import Settings
from consentcam.consent.context import Ledger, open_ledger
from consentcam.consent.sites import add_camera, add_site
from tests.pipeline.support import TEST_PIPELINE
from tests.support.seed import enrolled_member


@pytest.fixture
def pipeline_settings(store_settings: Settings) -> Settings:
    return store_settings.model_copy(
        update={"pipeline": store_settings.pipeline.model_copy(update=TEST_PIPELINE)}
    )


@pytest.fixture
def site_ledger(pipeline_settings: Settings) -> Ledger:
    ledger = open_ledger(pipeline_settings, "test:staff", create=True)
    add_site(ledger, "shop", "eu")
    return ledger


@pytest.fixture
def enrol(site_ledger: Ledger, photos: Path, evidence: Path) -> Callable[[str, str], str]:
    """Add a consenting member enrolled from one photo; returns the member id."""

    def make(name: str, photo: str) -> str:
        return enrolled_member(site_ledger, "shop", name, photos / photo, evidence)

    return make


@pytest.fixture
def camera(site_ledger: Ledger) -> Callable[[str, Path | str, str], str]:
    def make(name: str, source: Path | str, mode: str) -> str:
        return add_camera(site_ledger, "shop", name, str(source), mode, mode != "count").id

    return make
