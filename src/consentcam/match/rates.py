"""Observed error rates and what they support: a proportion with its Wilson interval, and the
stricter track threshold that staff answers to door alerts would support.

Pure (numbers in, records out; no database): ``events/accuracy.py`` reads the answers from the
store, and ``eval`` uses the interval for its protocols. Empty input gives empty output.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# The normal quantile of a two-sided 95% interval.
Z95 = 1.959964
# A stricter threshold is only proposed if it keeps at least this share of the alerts staff
# confirmed: one that would have missed more than one member visit in five trades too much
# recall for the false alerts it removes, and the report says so instead.
KEEP_CONFIRMED_MIN = 0.8
# Bins of the distance histogram the dashboard draws (confirmed against dismissed).
DISTANCE_BINS = 10
# The quantiles a distance summary gives, by name.
QUANTILES = {"min": 0.0, "p25": 0.25, "median": 0.5, "p75": 0.75, "max": 1.0}


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default); (0, 1) with no trials.

    Unlike the normal approximation it stays inside [0, 1] and is honest for the small counts a
    shop collects (0 of 10 dismissed is not "0%, certainly")."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def share(part: int, whole: int) -> float | None:
    """``part / whole``, or None when there is nothing to divide (no answers is not 0%)."""
    return part / whole if whole else None


def over_budget(dismissed: int, answered: int, budget: float) -> bool:
    """Whether the share of dismissed alerts is above ``budget`` *with confidence*: the Wilson
    interval's lower bound is above it. A single bad day on few answers does not count; a
    share that stays above the budget as answers accumulate does."""
    return answered > 0 and wilson_interval(dismissed, answered)[0] > budget


def budget_status(dismissed: int, answered: int, budget: float) -> str:
    """``over`` (the whole interval above the budget), ``within`` (the whole interval at or
    below it), ``unclear`` (the interval straddles it: more answers will tell) or ``no
    answers``."""
    if not answered:
        return "no answers"
    lo, hi = wilson_interval(dismissed, answered)
    if lo > budget:
        return "over"
    return "within" if hi <= budget else "unclear"


@dataclass(frozen=True, slots=True)
class ProposedThreshold:
    """A stricter track threshold and what it would have done to the same answers."""

    threshold: float
    confirmed_kept: float  # share of the confirmed alerts at or below it
    dismissed_share: float  # share dismissed among the answered alerts at or below it
    dismissed_avoided: int  # dismissed alerts above it (would not have been raised)
    confirmed_lost: int  # confirmed alerts above it (members who would have been missed)


def proposed_threshold(
    confirmed: Sequence[float], dismissed: Sequence[float], budget: float, below: float
) -> ProposedThreshold | None:
    """The largest threshold under ``below`` (the one in force) at which the answered alerts
    would have met the dismissal ``budget`` while keeping most of the confirmed ones; None if
    no threshold does.

    The rule, on the distances of the alerts staff answered: sort them; for every cut between
    two different distances, the alerts at or below the cut are those a threshold there would
    still have raised. A cut qualifies when the dismissed share among them is at most
    ``budget`` and they include at least ``KEEP_CONFIRMED_MIN`` of the confirmed alerts; the
    highest qualifying cut wins (the least recall given up), and the threshold is placed half
    way between the last distance kept and the first one cut off. It is measured on the same
    answers it was chosen from, so it is an estimate to apply and then watch, not a guarantee.
    """
    if not confirmed or not dismissed:
        return None
    answers = sorted([(d, False) for d in confirmed] + [(d, True) for d in dismissed])
    best: ProposedThreshold | None = None
    kept_confirmed = kept_dismissed = 0
    for (distance, was_dismissed), (following, _) in itertools.pairwise(answers):
        kept_dismissed += was_dismissed
        kept_confirmed += not was_dismissed
        if following == distance:
            continue  # a cut between equal distances keeps both or neither
        threshold = _between(distance, following)
        if threshold >= below:
            break  # every later cut is higher still: not stricter than the one in force
        kept = kept_confirmed + kept_dismissed
        if kept_confirmed < KEEP_CONFIRMED_MIN * len(confirmed):
            continue
        if kept_dismissed <= budget * kept:
            best = ProposedThreshold(
                threshold=threshold,
                confirmed_kept=kept_confirmed / len(confirmed),
                dismissed_share=kept_dismissed / kept,
                dismissed_avoided=len(dismissed) - kept_dismissed,
                confirmed_lost=len(confirmed) - kept_confirmed,
            )
    return best


def _between(kept: float, cut: float) -> float:
    """A threshold half way between the last distance kept and the first cut off, rounded to 4
    decimals (a value an admin can type) unless rounding would leave that gap."""
    middle = (kept + cut) / 2
    rounded = round(middle, 4)
    return rounded if kept <= rounded < cut else middle


def distance_quantiles(distances: Sequence[float]) -> dict[str, float | int | None]:
    """Count, minimum, quartiles and maximum of ``distances`` (None each when empty)."""
    if not distances:
        return {"count": 0, **dict.fromkeys(QUANTILES, None)}
    values = np.quantile(np.asarray(distances, np.float64), list(QUANTILES.values()))
    rounded = (round(float(v), 4) for v in values)
    return {"count": len(distances), **dict(zip(QUANTILES, rounded, strict=True))}


def distance_histogram(
    confirmed: Sequence[float], dismissed: Sequence[float], bins: int = DISTANCE_BINS
) -> dict[str, list[float] | list[int]]:
    """Counts of confirmed and of dismissed distances in ``bins`` equal bins shared by both
    (from the smallest to the largest distance answered); empty lists with no answers."""
    every = [*confirmed, *dismissed]
    if not every:
        return {"edges": [], "confirmed": [], "dismissed": []}
    lo, hi = min(every), max(every)
    edges = np.linspace(lo, hi, bins + 1) if hi > lo else np.array([lo, lo + 1e-4])
    return {
        "edges": [round(float(e), 4) for e in edges],
        "confirmed": [int(n) for n in np.histogram(confirmed, edges)[0]],
        "dismissed": [int(n) for n in np.histogram(dismissed, edges)[0]],
    }
