"""Per-site calibration report: the threshold in force for the site's gallery and what it means.

In 1:N search each non-member probe meets every one of the N enrolled members, so the chance of a
false alert (FPIR) is about N x FMR, and the per-comparison false-match rate must shrink as the
gallery grows (ISO/IEC 19795-1; NIST FRTE 1:N). The model card only measured FMR down to a floor;
beyond it the strictest measured threshold is used and the real FPIR rises above the target, which
this report says plainly instead of hiding it.

Pure computations from the model card; the report of a site, read from the store, is
``consent/calibration.py``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from consentcam.errors import InputError
from consentcam.model_card import ModelCard, model_card

FILING_NOTE = (
    "file with the provincial regulator within 30 working days of reaching "
    "{threshold:,} people (face recognition measures 15)"
)


def calibration_at(gallery_size: int, target_fpir: float | None = None) -> dict[str, Any]:
    """Threshold, false-match rate in force, expected false alerts and expected misses for a
    gallery of ``gallery_size`` members, from the model card alone.

    The rate in force is ``target_fpir / N`` clamped to the card's measured range. Clamped at the
    floor (large N), the expected FPIR is N x the floor and exceeds the target; clamped at the
    ceiling (small N, generous target), it is below the target. An empty gallery is reported with
    the threshold its first member will meet, and no false alerts."""
    card = model_card()
    if gallery_size < 0:
        raise InputError(f"gallery size must be at least 0, got {gallery_size}")
    target = card.default_target_fpir if target_fpir is None else target_fpir
    if not 0 < target < 1:  # also refuses NaN
        raise InputError(f"target FPIR must be between 0 and 1 (exclusive), got {target:g}")
    n = max(gallery_size, 1)
    lowest, highest = card.operating_points[0].fmr, card.operating_points[-1].fmr
    requested = target / n
    in_force = min(max(requested, lowest), highest)
    clamped = None if in_force == requested else "floor" if in_force > requested else "ceiling"
    expected_fpir = min(1.0, gallery_size * in_force)
    return {
        "gallery_members": gallery_size,
        "target_fpir": target,
        "threshold": card.identification_threshold(n, target),
        "fmr_requested": requested,
        "fmr_in_force": in_force,
        "measured_fmr_range": [lowest, highest],
        "clamped": clamped,
        "note": _clamp_note(clamped, card, target, expected_fpir),
        "expected_fpir": expected_fpir,
        "expected_false_alerts_per_1000_non_members": 1000 * expected_fpir,
        "expected_fnmr": fnmr_at(card, in_force),
        "model_card_version": card.version,
    }


def camera_tradeoff(gallery_size: int, budget: float | None = None) -> dict[str, Any]:
    """What a camera worker decides at for a gallery of ``gallery_size`` members: the false-alert
    budget in force (the site's, else the model card's) with its track threshold, and the
    trade-off at every measured budget (expected false alerts per 1,000 non-member visitors
    against the expected share of member walk-ins recognised, enrolled from 1 or 3 photos),
    from the ``eval tracks`` protocol recorded in the model card."""
    card = model_card()
    sizes = card.track_sizes
    in_force = card.track_point(max(gallery_size, 1), budget)

    def row(point: Any) -> dict[str, Any]:
        return {
            "false_alerts_per_1000": point.false_alerts_per_1000,
            "threshold": round(point.threshold, 4),
            "expected_member_recall_1_photo": round(point.recall_1, 3),
            "expected_member_recall_3_photos": round(point.recall_3, 3),
        }

    note = None
    if gallery_size > sizes[-1]:
        note = (
            f"the gallery is larger than the {sizes[-1]:,} members measured in model card "
            f"{card.version}: the threshold measured there is used, so false alerts grow above "
            f"the budget, about in proportion to the gallery (x{gallery_size / sizes[-1]:.3g})"
        )
    return {
        **row(in_force),
        "budget_source": "site" if budget is not None else "model card",
        "tradeoff": [row(card.track_point(max(gallery_size, 1), b)) for b in card.track_budgets],
        "measured_gallery_sizes": list(sizes),
        "note": note,
    }


def fnmr_at(card: ModelCard, fmr: float) -> float:
    """False non-match rate at the threshold for ``fmr``, interpolated between the card's
    operating points the same way as the threshold (log-linear in FMR)."""
    points = card.operating_points
    if not points[0].fmr <= fmr <= points[-1].fmr:
        raise InputError(f"false-match rate {fmr:g} is outside the model card's measured range")
    for lo, hi in itertools.pairwise(points):
        if fmr == lo.fmr:  # a measured point: its own figure, free of rounding
            return lo.fnmr
        if lo.fmr < fmr < hi.fmr:
            w = (math.log(fmr) - math.log(lo.fmr)) / (math.log(hi.fmr) - math.log(lo.fmr))
            return lo.fnmr + w * (hi.fnmr - lo.fnmr)
    return points[-1].fnmr  # fmr is the highest measured rate


def filing_status(people: int, thresholds: tuple[int, ...]) -> dict[str, Any]:
    """Where ``people`` stands against a profile's filing thresholds: the first warns, the last
    requires filing."""
    warn_at, file_at = thresholds[0], thresholds[-1]
    status = "file" if people >= file_at else "warn" if people >= warn_at else "ok"
    return {
        "enrolled_people": people,
        "warn_at": warn_at,
        "file_at": file_at,
        "status": status,
        "note": FILING_NOTE.format(threshold=file_at),
    }


def _clamp_note(clamped: str | None, card: ModelCard, target: float, fpir: float) -> str | None:
    if clamped == "floor":
        return (
            f"the gallery is too large for the target FPIR {target:g}: the strictest threshold "
            f"measured in model card {card.version} is used, so about {1000 * fpir:.3g} in "
            "1,000 non-member visitors will meet a false match, more than the target"
        )
    if clamped == "ceiling":
        return (
            f"the loosest measured threshold of model card {card.version} is used: the expected "
            f"FPIR {fpir:.3g} is below the target"
        )
    return None
