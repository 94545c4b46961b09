"""Fixtures for pipeline tests: a site, enrolled members and cameras (the clips are in
tests/conftest.py, shared with the CLI tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from consentcam.config import Settings
from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger, open_ledger
from consentcam.consent.enrolment import enroll
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_camera, add_site

# Small frames keep the tests fast; at this size faces need detection at full scale.
TEST_PIPELINE = {"detect_scale": 1.0}


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
        member = add_member(site_ledger, "shop", name)
        record_consent(site_ledger, member.id, purpose="recognition", evidence=evidence)
        enroll(site_ledger, member.id, [photos / photo])
        return member.id

    return make


@pytest.fixture
def camera(site_ledger: Ledger) -> Callable[[str, Path | str, str], str]:
    def make(name: str, source: Path | str, mode: str) -> str:
        return add_camera(site_ledger, "shop", name, str(source), mode, mode != "count").id

    return make
