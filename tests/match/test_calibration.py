from __future__ import annotations

import itertools
import math

import pytest

from consentcam.consent.profiles import profile
from consentcam.errors import InputError
from consentcam.match.calibration import calibration_at, filing_status, fnmr_at
from consentcam.model_card import model_card


def test_threshold_tightens_as_the_gallery_grows() -> None:
    card = model_card()
    sizes = [1, 3, 10, 30, 100, 1000, 10**6]
    reports = [calibration_at(n) for n in sizes]
    for n, r in zip(sizes, reports, strict=True):
        assert r["threshold"] == card.identification_threshold(n)
        assert r["threshold"] == pytest.approx(card.threshold_at_fmr(r["fmr_in_force"]))
        assert r["gallery_members"] == n and r["model_card_version"] == card.version
    thresholds = [r["threshold"] for r in reports]
    assert all(a >= b for a, b in itertools.pairwise(thresholds))
    assert thresholds[0] > thresholds[4]  # 1 -> 100 members, still inside the measured range
    misses = [r["expected_fnmr"] for r in reports]
    assert all(a <= b for a, b in itertools.pairwise(misses))  # stricter means more misses


def test_inside_the_measured_range_the_target_is_met() -> None:
    r = calibration_at(10, target_fpir=0.001)
    assert r["clamped"] is None and r["note"] is None
    assert r["fmr_requested"] == r["fmr_in_force"] == pytest.approx(1e-4)
    assert r["expected_fpir"] == pytest.approx(0.001)
    assert r["expected_false_alerts_per_1000_non_members"] == pytest.approx(1.0)
    assert r["expected_fnmr"] == pytest.approx(0.1922)  # the card's point at FMR 1e-4


def test_a_large_gallery_is_clamped_to_the_floor_and_says_so() -> None:
    card = model_card()
    floor = card.operating_points[0]
    r = calibration_at(1000, target_fpir=0.001)
    assert r["clamped"] == "floor" and "more than the target" in r["note"]
    assert r["fmr_requested"] == pytest.approx(1e-6)
    assert r["fmr_in_force"] == floor.fmr and r["threshold"] == floor.threshold
    assert r["expected_fpir"] == pytest.approx(1000 * floor.fmr) and r["expected_fpir"] > 0.001
    assert r["expected_false_alerts_per_1000_non_members"] == pytest.approx(1000 * 1000 * floor.fmr)
    assert r["expected_fnmr"] == floor.fnmr
    huge = calibration_at(10**7)
    assert huge["expected_fpir"] == 1.0  # N x FMR is only an approximation: capped at certainty
    assert huge["expected_false_alerts_per_1000_non_members"] == 1000


def test_a_generous_target_on_a_small_gallery_is_clamped_to_the_ceiling() -> None:
    ceiling = model_card().operating_points[-1]
    r = calibration_at(1, target_fpir=0.5)
    assert r["clamped"] == "ceiling" and "below the target" in r["note"]
    assert r["fmr_in_force"] == ceiling.fmr and r["threshold"] == ceiling.threshold
    assert r["expected_fpir"] == pytest.approx(ceiling.fmr)


def test_an_empty_gallery_has_no_false_alerts() -> None:
    r = calibration_at(0)
    assert r["gallery_members"] == 0 and r["expected_fpir"] == 0
    assert r["threshold"] == model_card().identification_threshold(1)


@pytest.mark.parametrize("target", [0.0, 1.0, -0.001, 2.0, math.nan])
def test_impossible_targets_are_refused(target: float) -> None:
    with pytest.raises(InputError, match="target FPIR must be between 0 and 1"):
        calibration_at(10, target)


def test_fnmr_interpolates_between_measured_points() -> None:
    card = model_card()
    for p in card.operating_points:
        assert fnmr_at(card, p.fmr) == p.fnmr
    for lo, hi in itertools.pairwise(card.operating_points):
        middle = fnmr_at(card, math.sqrt(lo.fmr * hi.fmr))
        assert middle == pytest.approx((lo.fnmr + hi.fnmr) / 2)
    with pytest.raises(InputError, match="outside"):
        fnmr_at(card, card.operating_points[0].fmr / 10)


@pytest.mark.parametrize(
    ("people", "status"),
    [(0, "ok"), (79_999, "ok"), (80_000, "warn"), (99_999, "warn"), (100_000, "file")],
)
def test_cn_filing_counter(people: int, status: str) -> None:
    result = filing_status(people, profile("cn").filing_thresholds)
    assert result["status"] == status and result["enrolled_people"] == people
    assert (result["warn_at"], result["file_at"]) == (80_000, 100_000)
