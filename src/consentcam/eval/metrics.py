"""Biometric error rates from genuine (same person) and impostor (different people) distances.

Conventions follow ISO/IEC 19795-1: FMR is the fraction of impostor comparisons accepted, FNMR the
fraction of genuine comparisons rejected, at a distance threshold ``t`` (accept when ``d <= t``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Roc:
    thresholds: Floats  # ascending
    fmr: Floats  # false-match rate at each threshold
    tmr: Floats  # true-match rate (1 - FNMR) at each threshold


def roc_curve(genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> Roc:
    """FMR and TMR at every distinct score (accepting ``d <= t``)."""
    g = np.sort(np.asarray(genuine, dtype=np.float64))
    i = np.sort(np.asarray(impostor, dtype=np.float64))
    if len(g) == 0 or len(i) == 0:
        raise ValueError("a ROC needs at least one genuine and one impostor score")
    thresholds = np.unique(np.concatenate([g, i]))
    tmr = np.searchsorted(g, thresholds, side="right") / len(g)
    fmr = np.searchsorted(i, thresholds, side="right") / len(i)
    return Roc(thresholds, fmr, tmr)


def equal_error_rate(roc: Roc) -> float:
    """The rate where FMR equals FNMR (interpolated between the two nearest thresholds)."""
    fnmr = 1 - roc.tmr
    diff = roc.fmr - fnmr  # rises from negative to positive as the threshold grows
    k = int(np.searchsorted(diff, 0.0))
    if k == 0:
        return float(fnmr[0])
    if k >= len(diff):
        return float(roc.fmr[-1])
    d0, d1 = diff[k - 1], diff[k]
    w = -d0 / (d1 - d0) if d1 != d0 else 0.0
    return float(roc.fmr[k - 1] + w * (roc.fmr[k] - roc.fmr[k - 1]))


def tmr_at_fmr(roc: Roc, target_fmr: float) -> float:
    """Highest true-match rate with FMR at or below ``target_fmr`` (0 if none)."""
    ok = roc.fmr <= target_fmr
    return float(roc.tmr[ok].max()) if ok.any() else 0.0


def threshold_at_fmr(impostor: npt.ArrayLike, target_fmr: float) -> float:
    """Largest threshold whose FMR is at most ``target_fmr``: the ``target_fmr`` quantile of the
    impostor distances, kept strictly below the first impostor that would push FMR over it."""
    i = np.sort(np.asarray(impostor, dtype=np.float64))
    allowed = int(np.floor(target_fmr * len(i)))
    if allowed >= len(i):
        return float(i[-1])
    # Accepting d <= t admits every impostor below i[allowed]; stay just under it.
    return float(np.nextafter(i[allowed], -np.inf))


def best_threshold(genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> float:
    """Threshold maximising accuracy on these scores: candidates are midpoints between
    neighbouring scores; where a run of neighbouring candidates ties for the best accuracy, the
    middle of the widest such run is taken (not biased towards either error)."""
    g = np.asarray(genuine, dtype=np.float64)
    i = np.asarray(impostor, dtype=np.float64)
    scores = np.unique(np.concatenate([g, i]))
    candidates = np.concatenate(
        [[scores[0] - 1e-6], (scores[:-1] + scores[1:]) / 2, [scores[-1] + 1e-6]]
    )
    gs, is_ = np.sort(g), np.sort(i)
    correct = np.searchsorted(gs, candidates, side="right") + (
        len(is_) - np.searchsorted(is_, candidates, side="right")
    )
    best = np.flatnonzero(correct == correct.max())
    runs = np.split(best, np.flatnonzero(np.diff(best) > 1) + 1)
    # Candidate k lies between scores[k-1] and scores[k]: a run's thresholds span that range.
    bounds = np.concatenate([[candidates[0]], scores, [candidates[-1]]])
    lo, hi = max(((bounds[r[0]], bounds[r[-1] + 1]) for r in runs), key=lambda b: b[1] - b[0])
    return float((lo + hi) / 2)


def accuracy(genuine: npt.ArrayLike, impostor: npt.ArrayLike, threshold: float) -> float:
    g = np.asarray(genuine, dtype=np.float64)
    i = np.asarray(impostor, dtype=np.float64)
    return float(((g <= threshold).sum() + (i > threshold).sum()) / (len(g) + len(i)))


@dataclass(frozen=True, slots=True)
class FoldResult:
    threshold: float
    accuracy: float


def tenfold(distance: npt.ArrayLike, same: npt.ArrayLike, fold: npt.ArrayLike) -> list[FoldResult]:
    """LFW's protocol: each fold is tested at the threshold chosen on the other folds."""
    d = np.asarray(distance, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    f = np.asarray(fold)
    results = []
    for k in np.unique(f):
        train, test = f != k, f == k
        t = best_threshold(d[train & s], d[train & ~s])
        results.append(FoldResult(t, accuracy(d[test & s], d[test & ~s], t)))
    return results
