from __future__ import annotations

import numpy as np
import pytest

from consentcam.eval import metrics


def test_roc_counts_accepts_at_each_threshold() -> None:
    roc = metrics.roc_curve(genuine=[0.1, 0.2, 0.3, 0.7], impostor=[0.5, 0.8, 0.9, 1.0])
    i = list(roc.thresholds).index(0.5)
    assert roc.tmr[i] == 0.75 and roc.fmr[i] == 0.25
    assert roc.tmr[-1] == 1.0 and roc.fmr[-1] == 1.0


def test_perfect_separation_has_zero_eer_and_full_accuracy() -> None:
    g, i = [0.1, 0.2, 0.3], [0.7, 0.8, 0.9]
    roc = metrics.roc_curve(g, i)
    assert metrics.equal_error_rate(roc) == 0.0
    t = metrics.best_threshold(g, i)
    assert t == 0.5  # the middle of the perfect range 0.3..0.7
    assert metrics.accuracy(g, i, t) == 1.0
    assert metrics.tmr_at_fmr(roc, 0.0) == 1.0


def test_ties_take_the_middle_of_the_widest_best_range() -> None:
    # Best accuracy (5 of 6) for thresholds in 0.2..0.3 and in 0.6..0.9: never between them.
    g, i = [0.1, 0.2, 0.6], [0.3, 0.9, 1.0]
    t = metrics.best_threshold(g, i)
    assert metrics.accuracy(g, i, t) == 5 / 6
    assert 0.6 < t < 0.9


def test_eer_of_overlapping_scores() -> None:
    # Genuine and impostor drawn from the same distribution: EER near 50%.
    rng = np.random.default_rng(0)
    roc = metrics.roc_curve(rng.random(4000), rng.random(4000))
    assert abs(metrics.equal_error_rate(roc) - 0.5) < 0.03


def test_threshold_at_fmr_never_exceeds_target() -> None:
    impostor = np.linspace(0, 1, 1001)
    for target in (0.0, 1e-3, 0.01, 0.1):
        t = metrics.threshold_at_fmr(impostor, target)
        assert (impostor <= t).mean() <= target
    assert metrics.threshold_at_fmr(impostor, 0.1) > 0.099


def test_tenfold_trains_on_other_folds() -> None:
    # Fold 0's own scores would pick a threshold near 0.45; the other folds near 0.25.
    d = np.array([0.1, 0.4, 0.2, 0.5] * 1 + [0.1, 0.3, 0.2, 0.35] * 3)
    same = np.array([True, False, True, False] * 4)
    fold = np.repeat([0, 1, 2, 3], 4)
    results = metrics.tenfold(d, same, fold)
    assert len(results) == 4
    assert 0.2 < results[0].threshold < 0.3
    assert results[0].accuracy == 1.0


def test_roc_needs_both_classes() -> None:
    with pytest.raises(ValueError):
        metrics.roc_curve([], [0.5])
