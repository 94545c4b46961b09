"""Kiosk bursts (``enroll_burst``): several views of one capture, frames the quality gate refuses
skipped with their reasons, nothing stored unless enough pass and they show one person."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageFilter
from sqlalchemy import func, select

from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger
from consentcam.consent.enrolment import BURST_MIN_VIEWS, enroll_burst
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_site
from consentcam.errors import ConsentError, InputError
from consentcam.store.models import Template


@pytest.fixture
def member(ledger: Ledger, evidence: Path) -> str:
    add_site(ledger, "shop", "eu")
    member = add_member(ledger, "shop", "Barack")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    return member.id


def _templates(ledger: Ledger) -> int:
    with ledger.store.transaction() as s:
        return int(s.execute(select(func.count()).select_from(Template)).scalar_one())


def _blurred(photos: Path, tmp_path: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = tmp_path / f"blurred-{i}.jpg"
        Image.open(photos / "obama.jpg").filter(ImageFilter.GaussianBlur(6 + i)).save(path)
        paths.append(path)
    return paths


SHARP = ["obama.jpg", "obama2.jpg", "obama3.jpg"]


def test_a_burst_skips_refused_frames_and_enrols_the_rest(
    ledger: Ledger, member: str, photos: Path, tmp_path: Path
) -> None:
    frames = [photos / n for n in SHARP] + _blurred(photos, tmp_path, 2)
    labels = [f"photo {i}" for i in range(1, 6)]
    result = enroll_burst(ledger, member, frames, labels)
    assert result.templates == 3 == _templates(ledger)
    assert len(result.skipped) == 2
    assert all(s.startswith(("photo 4", "photo 5")) and "blurry" in s for s in result.skipped)
    assert not any(str(tmp_path) in s for s in result.skipped)  # labels, not server paths


def test_too_few_good_frames_store_nothing(
    ledger: Ledger, member: str, photos: Path, tmp_path: Path
) -> None:
    frames = [photos / n for n in SHARP[: BURST_MIN_VIEWS - 1]] + _blurred(photos, tmp_path, 3)
    with pytest.raises(InputError, match=rf"only {BURST_MIN_VIEWS - 1} of 5 frames"):
        enroll_burst(ledger, member, frames)
    assert _templates(ledger) == 0


def test_a_burst_of_two_people_is_refused(ledger: Ledger, member: str, photos: Path) -> None:
    frames = [photos / n for n in SHARP] + [photos / "biden.jpg"]
    with pytest.raises(InputError, match="same person"):
        enroll_burst(ledger, member, frames)
    assert _templates(ledger) == 0


@pytest.mark.parametrize("count", [BURST_MIN_VIEWS - 1, 6])
def test_a_burst_has_three_to_five_frames(
    ledger: Ledger, member: str, photos: Path, count: int
) -> None:
    with pytest.raises(InputError, match="a burst has"):
        enroll_burst(ledger, member, [photos / "obama.jpg"] * count)


def test_a_burst_needs_consent(ledger: Ledger, evidence: Path, photos: Path) -> None:
    add_site(ledger, "shop", "eu")
    member = add_member(ledger, "shop", "No consent")
    with pytest.raises(ConsentError):
        enroll_burst(ledger, member.id, [photos / n for n in SHARP])
    assert _templates(ledger) == 0
