"""Observed rates: the Wilson interval, the over-budget rule and the stricter threshold that staff
answers support, on hand-made distances."""

from __future__ import annotations

import math

import pytest

from consentcam.match.rates import (
    KEEP_CONFIRMED_MIN,
    budget_status,
    distance_histogram,
    distance_quantiles,
    over_budget,
    proposed_threshold,
    share,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (0, 1000, 0.0, 0.00383),
        (5, 10, 0.2366, 0.7634),
        (1, 10, 0.0179, 0.4042),
        (2, 12, 0.0470, 0.4480),
        (10, 100, 0.0552, 0.1744),
        (1, 1, 0.2065, 1.0),
    ],
)
def test_wilson_interval_matches_known_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    lo, hi = wilson_interval(successes, trials)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_interval_without_trials_knows_nothing() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert share(0, 0) is None and share(1, 4) == 0.25


def test_over_budget_needs_the_whole_interval_above_the_budget() -> None:
    # 2 of 100 dismissed at a 2% budget: the point estimate is on the budget, not over it.
    assert not over_budget(2, 100, 0.02) and budget_status(2, 100, 0.02) == "unclear"
    # 10 of 100: the interval's lower bound (5.5%) is above 2%.
    assert over_budget(10, 100, 0.02) and budget_status(10, 100, 0.02) == "over"
    # ... but not above a 10% budget, and 1 in 10 is too few answers to tell either way.
    assert not over_budget(10, 100, 0.10)
    assert budget_status(1, 10, 0.02) == "unclear"
    # 0 of 500 at a 2% budget: the upper bound (0.76%) is within it.
    assert budget_status(0, 500, 0.02) == "within"
    assert budget_status(0, 0, 0.02) == "no answers" and not over_budget(0, 0, 0.02)


CONFIRMED = [0.10, 0.12, 0.15, 0.18, 0.20, 0.22, 0.24, 0.26, 0.27, 0.28]


def test_the_largest_cut_that_meets_the_budget_is_proposed() -> None:
    # Dismissed alerts all matched further than any confirmed one: cut between 0.28 and 0.30.
    p = proposed_threshold(CONFIRMED, [0.30, 0.32, 0.33], budget=0.02, below=0.35)
    assert p is not None
    assert p.threshold == 0.29
    assert (p.confirmed_kept, p.dismissed_share) == (1.0, 0.0)
    assert (p.dismissed_avoided, p.confirmed_lost) == (3, 0)


def test_a_dismissed_alert_among_the_confirmed_ones_moves_the_cut_down() -> None:
    # One dismissed at 0.265, between confirmed ones: keeping it would be 1 in 10 dismissed
    # (over 2%), so the cut falls below it, keeping 8 of 10 confirmed (80%, just enough).
    p = proposed_threshold(CONFIRMED, [0.265, 0.30], budget=0.02, below=0.35)
    assert p is not None
    assert p.threshold == 0.2625  # half way between 0.26 and 0.265
    assert p.confirmed_kept == pytest.approx(0.8) and p.confirmed_lost == 2
    assert p.dismissed_avoided == 2 and p.dismissed_share == 0.0
    # A looser budget keeps it: 1 dismissed of 9 kept answers is within 12%.
    loose = proposed_threshold(CONFIRMED, [0.265, 0.30], budget=0.12, below=0.35)
    assert loose is not None and loose.threshold == 0.29
    assert loose.dismissed_share == pytest.approx(1 / 11)


def test_no_threshold_is_proposed_that_gives_up_most_members() -> None:
    # The dismissed alert matched closer than 3 of the 10 confirmed: cutting it off would miss
    # 30% of the members (more than 1 - KEEP_CONFIRMED_MIN).
    assert KEEP_CONFIRMED_MIN == 0.8
    assert proposed_threshold(CONFIRMED, [0.235], budget=0.02, below=0.35) is None
    assert proposed_threshold([], [0.3], budget=0.02, below=0.35) is None
    assert proposed_threshold(CONFIRMED, [], budget=0.02, below=0.35) is None


def test_a_proposal_is_always_stricter_than_the_threshold_in_force() -> None:
    # Answers from before a stricter threshold was applied: only cuts below it qualify, so
    # the proposal gives up confirmed alerts the threshold in force would give up anyway ...
    p = proposed_threshold(CONFIRMED, [0.30], budget=0.02, below=0.29)
    assert p is not None and p.threshold == 0.275 and p.confirmed_lost == 1
    # ... as long as most confirmed alerts stay.
    assert proposed_threshold(CONFIRMED, [0.30], budget=0.02, below=0.26) is None


def test_equal_distances_are_kept_or_cut_together() -> None:
    p = proposed_threshold([0.2, 0.2, 0.2, 0.2, 0.3], [0.3], budget=0.02, below=0.35)
    assert p is not None and p.threshold == 0.25 and p.confirmed_kept == 0.8


def test_rounding_never_crosses_a_distance() -> None:
    p = proposed_threshold([0.20001, 0.2, 0.2, 0.2, 0.2], [0.20003], budget=0.02, below=0.35)
    assert p is not None and 0.20001 <= p.threshold < 0.20003
    assert math.isclose(p.threshold, 0.20002)


def test_distance_summaries() -> None:
    assert distance_quantiles([0.1, 0.2, 0.3, 0.4]) == {
        "count": 4,
        "min": 0.1,
        "p25": 0.175,
        "median": 0.25,
        "p75": 0.325,
        "max": 0.4,
    }
    empty = distance_quantiles([])
    assert empty["count"] == 0 and empty["median"] is None
    h = distance_histogram([0.1, 0.2], [0.3], bins=2)
    assert h == {"edges": [0.1, 0.2, 0.3], "confirmed": [1, 1], "dismissed": [0, 1]}
    assert distance_histogram([], []) == {"edges": [], "confirmed": [], "dismissed": []}
    one = distance_histogram([0.2], [0.2], bins=4)
    assert one["confirmed"] == [1] and one["dismissed"] == [1]
