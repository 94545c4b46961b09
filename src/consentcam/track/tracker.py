"""SORT-style face tracking: a constant-velocity Kalman filter per track, IoU association.

Each frame, every live track's box is predicted one frame ahead, the predictions are matched to
the frame's detections by overlap, matched tracks are corrected by their detection, unmatched
detections start new tracks, and tracks undetected for more than ``max_missed`` frames end.

The filter's state is ``(cx, cy, w, h)`` with a velocity for each. With diagonal noise the four
coordinates are independent, so each is a 2-state (position, velocity) filter whose covariance is
three numbers; all tracks are stepped together as numpy arrays, which keeps an update for ten
faces well under 0.2 ms. Noise scales with the box size, as in DeepSORT, so small distant faces
and large near ones are tracked alike.

Association maximises the total affinity between predictions and detections (Hungarian method,
run only on groups of tracks and detections that compete for each other; an uncontested pair is
matched directly). Affinity is the IoU when it reaches ``min_iou``. Below that, a detection can
still continue a track when its centre lies within one predicted box width of the predicted
centre and its width is within a factor of 1.5 of the predicted width: at low frame rates a fast
face barely overlaps its previous box before the filter has learnt its velocity. Such a match
scores below any IoU match, so overlap always wins.

Tracks hold box coordinates only: no pixels, landmarks or embeddings.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from consentcam.config import TrackSettings
from consentcam.vision.records import Box

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# DeepSORT's noise model, as fractions of the box size: detector jitter and process noise on
# position, and how fast velocity may change between frames.
POSITION_STD = 1 / 20
VELOCITY_STD = 1 / 160
# A new track's velocity is unknown: start it with a wide spread.
INITIAL_VELOCITY_STD = 10 * VELOCITY_STD
# Centre-distance fallback: reach in predicted box widths, and the largest width ratio.
FALLBACK_REACH = 1.0
FALLBACK_SIZE_RATIO = 1.5


@dataclass(frozen=True, slots=True)
class TrackedBox:
    track_id: int  # positive, never reused within a tracker
    box: Box  # the matched detection's box, or the prediction when coasting
    detection: int | None  # index into the detections given to update(); None when coasting
    hits: int  # frames with a matched detection so far
    age: int  # frames the track has lived, this one included (1 when it starts)
    confirmed: bool  # hits >= min_hits; only confirmed tracks are reported downstream


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    boxes: tuple[TrackedBox, ...]  # every live track after this frame, confirmed or not
    ended: tuple[int, ...]  # ids of tracks that ended at this frame (missed > max_missed)


class Tracker(Protocol):
    def update(self, detections: Sequence[Box]) -> TrackUpdate: ...

    def predicted(self) -> list[tuple[int, Box]]:
        """Where each live track is expected in the next frame."""
        ...

    def finish(self) -> tuple[int, ...]:
        """End every live track (end of stream); returns their ids."""
        ...


def make_tracker(settings: TrackSettings | None = None) -> Tracker:
    """The IoU + Kalman tracker."""
    return KalmanTracker(settings or TrackSettings())


class KalmanTracker:
    """State is kept as parallel arrays, one row per live track (see the module docstring)."""

    def __init__(self, settings: TrackSettings) -> None:
        self._settings = settings
        self._next_id = 1
        self._ids: Ints = np.empty(0, np.int64)
        self._hits: Ints = np.empty(0, np.int64)
        self._age: Ints = np.empty(0, np.int64)
        self._missed: Ints = np.empty(0, np.int64)
        self._mean: Floats = np.empty((0, 2, 4))  # [position, velocity] x (cx, cy, w, h)
        self._cov: Floats = np.empty((0, 3, 4))  # [p_pos, p_pos_vel, p_vel] x (cx, cy, w, h)

    def predicted(self) -> list[tuple[int, Box]]:
        mean, _ = _predict(self._mean, self._cov)
        return list(zip(self._ids.tolist(), _boxes(mean[:, 0]), strict=True))

    def update(self, detections: Sequence[Box]) -> TrackUpdate:
        if not len(self._ids) and not detections:
            return TrackUpdate((), ())
        mean, cov = _predict(self._mean, self._cov)
        measured = _measurements(detections)
        rows, cols = _assign(_affinity(mean[:, 0], measured, self._settings.min_iou))
        mean[rows], cov[rows] = _correct(mean[rows], cov[rows], measured[cols])
        matched: Ints = np.full(len(self._ids), -1, np.int64)
        matched[rows] = cols
        self._mean, self._cov = mean, cov
        self._age += 1
        self._hits[rows] += 1
        self._missed += 1
        self._missed[rows] = 0
        gone = self._missed > self._settings.max_missed
        matched = matched[~gone]
        ended = self._drop(gone)
        unmatched = np.ones(len(detections), np.bool_)
        unmatched[cols] = False
        fresh = np.flatnonzero(unmatched)
        self._start(measured[fresh])
        matched = np.concatenate([matched, fresh])
        return TrackUpdate(self._report(matched, detections), ended)

    def finish(self) -> tuple[int, ...]:
        return self._drop(np.ones(len(self._ids), np.bool_))

    def _drop(self, mask: Bools) -> tuple[int, ...]:
        ended = tuple(self._ids[mask].tolist())
        if ended:
            keep = ~mask
            self._ids, self._hits = self._ids[keep], self._hits[keep]
            self._age, self._missed = self._age[keep], self._missed[keep]
            self._mean, self._cov = self._mean[keep], self._cov[keep]
        return ended

    def _start(self, measured: Floats) -> None:
        n = len(measured)
        if not n:
            return
        self._ids = np.concatenate([self._ids, np.arange(self._next_id, self._next_id + n)])
        self._next_id += n
        ones = np.ones(n, np.int64)
        self._hits = np.concatenate([self._hits, ones])
        self._age = np.concatenate([self._age, ones])
        self._missed = np.concatenate([self._missed, ones - 1])
        mean, cov = _initiate(measured)
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])

    def _report(self, matched: Ints, detections: Sequence[Box]) -> tuple[TrackedBox, ...]:
        coasting = iter(_boxes(self._mean[matched < 0, 0]))
        min_hits = self._settings.min_hits
        return tuple(
            TrackedBox(
                track_id=track_id,
                box=detections[index] if index >= 0 else next(coasting),
                detection=index if index >= 0 else None,
                hits=hits,
                age=age,
                confirmed=hits >= min_hits,
            )
            for track_id, index, hits, age in zip(
                self._ids.tolist(),
                matched.tolist(),
                self._hits.tolist(),
                self._age.tolist(),
                strict=True,
            )
        )


def _measurements(detections: Sequence[Box]) -> Floats:
    """(n, 4) array of (cx, cy, w, h)."""
    if not detections:
        return np.empty((0, 4))
    ltrb = np.array([(b.left, b.top, b.right, b.bottom) for b in detections], np.float64)
    return np.column_stack(
        [(ltrb[:, 0] + ltrb[:, 2]) / 2, (ltrb[:, 1] + ltrb[:, 3]) / 2, _size(ltrb)]
    )


def _size(ltrb: Floats) -> Floats:
    return np.maximum(ltrb[:, 2:] - ltrb[:, :2], 1.0)


def _boxes(cxcywh: Floats) -> list[Box]:
    half = np.maximum(cxcywh[:, 2:], 1.0) / 2
    ltrb = np.rint(np.hstack([cxcywh[:, :2] - half, cxcywh[:, :2] + half])).astype(np.int64)
    return [Box(*row) for row in ltrb.tolist()]


def _scale(cxcywh: Floats) -> Floats:
    """Each box's size (mean of width and height), the unit of every noise term, as (n, 1)."""
    # Widths and heights are at least 1 (see _size and _predict), so this never divides by 0.
    return (cxcywh[:, 2:3] + cxcywh[:, 3:4]) / 2


def _initiate(measured: Floats) -> tuple[Floats, Floats]:
    mean = np.stack([measured, np.zeros_like(measured)], axis=1)
    size = _scale(measured)
    p_pos = np.broadcast_to((2 * POSITION_STD * size) ** 2, measured.shape)
    p_vel = np.broadcast_to((INITIAL_VELOCITY_STD * size) ** 2, measured.shape)
    return mean, np.stack([p_pos, np.zeros_like(measured), p_vel], axis=1)


def _predict(mean: Floats, cov: Floats) -> tuple[Floats, Floats]:
    """One constant-velocity step: x += v; P = F P F' + Q, per coordinate."""
    size = _scale(mean[:, 0])
    pos, vel = mean[:, 0], mean[:, 1]
    p00, p01, p11 = cov[:, 0], cov[:, 1], cov[:, 2]
    moved = pos + vel
    moved[:, 2:] = np.maximum(moved[:, 2:], 1.0)  # a shrinking coasting box stays a box
    new_mean = np.stack([moved, vel], axis=1)
    new_cov = np.stack(
        [
            p00 + 2 * p01 + p11 + (POSITION_STD * size) ** 2,
            p01 + p11,
            p11 + (VELOCITY_STD * size) ** 2,
        ],
        axis=1,
    )
    return new_mean, new_cov


def _correct(mean: Floats, cov: Floats, measured: Floats) -> tuple[Floats, Floats]:
    """Kalman update with the position observed: gain k = P H' / (H P H' + r), per coordinate."""
    p00, p01, p11 = cov[:, 0], cov[:, 1], cov[:, 2]
    spread = p00 + (POSITION_STD * _scale(mean[:, 0])) ** 2
    gain_pos, gain_vel = p00 / spread, p01 / spread
    error = measured - mean[:, 0]
    new_mean = np.stack([mean[:, 0] + gain_pos * error, mean[:, 1] + gain_vel * error], axis=1)
    new_cov = np.stack([(1 - gain_pos) * p00, (1 - gain_pos) * p01, p11 - gain_vel * p01], axis=1)
    return new_mean, new_cov


def _affinity(predicted: Floats, measured: Floats, min_iou: float) -> Floats:
    """(tracks, detections) scores: IoU where it reaches min_iou, else the centre-distance
    fallback scaled into (0, min_iou), else 0 (no match)."""
    if not len(predicted) or not len(measured):
        return np.zeros((len(predicted), len(measured)))
    p_half, m_half = predicted[:, None, 2:] / 2, measured[None, :, 2:] / 2
    offset = np.abs(predicted[:, None, :2] - measured[None, :, :2])
    # Overlap along each axis of two boxes whose centres are `offset` apart.
    overlap = np.clip(np.minimum(p_half + m_half - offset, 2 * np.minimum(p_half, m_half)), 0, None)
    inter = overlap[..., 0] * overlap[..., 1]
    areas = 4 * (p_half[..., 0] * p_half[..., 1] + m_half[..., 0] * m_half[..., 1])
    iou = inter / (areas - inter)
    reach = FALLBACK_REACH * predicted[:, None, 2]
    distance = np.hypot(offset[..., 0], offset[..., 1])
    ratio = measured[None, :, 2] / predicted[:, None, 2]
    near = (distance < reach) & (ratio <= FALLBACK_SIZE_RATIO) & (ratio >= 1 / FALLBACK_SIZE_RATIO)
    fallback = np.where(near, min_iou * (1 - distance / reach), 0.0)
    return np.where(iou >= min_iou, iou, fallback)


def _assign(affinity: Floats) -> tuple[Ints, Ints]:
    """Track rows and detection columns of the matching with the greatest total affinity."""
    gated = affinity > 0
    alone = gated & (gated.sum(axis=1, keepdims=True) == 1) & (gated.sum(axis=0) == 1)
    rows, cols = (a.tolist() for a in np.nonzero(alone))
    contested = gated & ~alone
    groups = _contested(contested) if contested.any() else iter(())
    for group_rows, group_cols in groups:
        scores = affinity[np.ix_(group_rows, group_cols)]
        for r, c in _hungarian(1.0 - scores):
            if scores[r, c] > 0:
                rows.append(group_rows[r])
                cols.append(group_cols[c])
    return np.array(rows, np.int64), np.array(cols, np.int64)


def _contested(gated: Bools) -> Iterator[tuple[list[int], list[int]]]:
    """Connected groups of tracks and detections that share candidate matches."""
    by_row = [np.flatnonzero(r).tolist() for r in gated]
    by_col = [np.flatnonzero(c).tolist() for c in gated.T]
    seen_rows: set[int] = set()
    seen_cols: set[int] = set()
    for start, candidates in enumerate(by_row):
        if start in seen_rows or not candidates:
            continue
        rows, cols, stack = [start], [], [start]
        seen_rows.add(start)
        while stack:
            for c in by_row[stack.pop()]:
                if c in seen_cols:
                    continue
                seen_cols.add(c)
                cols.append(c)
                fresh = [r for r in by_col[c] if r not in seen_rows]
                seen_rows.update(fresh)
                rows.extend(fresh)
                stack.extend(fresh)
        yield rows, cols


def _hungarian(cost: Floats) -> list[tuple[int, int]]:
    """Minimum-cost assignment (Kuhn-Munkres with potentials, O(n^2 m)): (row, column) pairs,
    one per row of the smaller side."""
    if cost.shape[0] > cost.shape[1]:
        return [(r, c) for c, r in _hungarian(cost.T)]
    a = cost.tolist()
    n, m = len(a), len(a[0])
    u, v = [0.0] * (n + 1), [0.0] * (m + 1)
    owner, way = [0] * (m + 1), [0] * (m + 1)  # owner[j]: row (1-based) assigned to column j
    for i in range(1, n + 1):
        owner[0], j0 = i, 0
        least, used = [float("inf")] * (m + 1), [False] * (m + 1)
        while owner[j0]:
            used[j0], i0, delta, j1 = True, owner[j0], float("inf"), 0
            for j in range(1, m + 1):
                if not used[j]:
                    reduced = a[i0 - 1][j - 1] - u[i0] - v[j]
                    if reduced < least[j]:
                        least[j], way[j] = reduced, j0
                    if least[j] < delta:
                        delta, j1 = least[j], j
            for j in range(m + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    least[j] -= delta
            j0 = j1
        while j0:
            owner[j0] = owner[way[j0]]
            j0 = way[j0]
    return [(owner[j] - 1, j - 1) for j in range(1, m + 1) if owner[j]]
