from __future__ import annotations

import itertools

import pytest

from consentcam.errors import InputError
from consentcam.model_card import model_card


def test_card_describes_the_pinned_model() -> None:
    card = model_card()
    assert card.model_id == "dlib_face_recognition_resnet_model_v1"
    assert card.embedding_size == 128 and card.distance == "euclidean"
    assert card.raw["measured_on"]


def test_thresholds_rise_with_the_false_match_rate() -> None:
    points = model_card().operating_points
    assert len(points) >= 3
    assert all(a.fmr < b.fmr and a.threshold < b.threshold for a, b in itertools.pairwise(points))


def test_interpolation_hits_measured_points_and_refuses_extrapolation() -> None:
    card = model_card()
    for p in card.operating_points:
        assert card.threshold_at_fmr(p.fmr) == pytest.approx(p.threshold)
    lo, hi = card.operating_points[0], card.operating_points[1]
    mid = card.threshold_at_fmr((lo.fmr * hi.fmr) ** 0.5)
    assert lo.threshold < mid < hi.threshold
    with pytest.raises(InputError):
        card.threshold_at_fmr(lo.fmr / 10)


def test_identification_threshold_tightens_with_gallery_size() -> None:
    card = model_card()
    small, large = card.identification_threshold(1), card.identification_threshold(100)
    assert large < small
    assert small == pytest.approx(card.threshold_at_fmr(card.default_target_fpir))
    # Beyond the measured range, the strictest measured threshold, never an extrapolation.
    assert card.identification_threshold(10**9) == card.operating_points[0].threshold
    with pytest.raises(InputError):
        card.identification_threshold(0)
