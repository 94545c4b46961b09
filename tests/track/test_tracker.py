from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from consentcam.config import TrackSettings
from consentcam.track.tracker import (
    TrackedBox,
    TrackUpdate,
    _affinity,
    _hungarian,
    _measurements,
    make_tracker,
)
from consentcam.vision.records import Box


def face(cx: float, cy: float, size: int = 40) -> Box:
    half = size / 2
    return Box(round(cx - half), round(cy - half), round(cx + half), round(cy + half))


def by_detection(update: TrackUpdate) -> dict[int, int]:
    """detection index -> track id, for the detections this frame matched or started."""
    return {b.detection: b.track_id for b in update.boxes if b.detection is not None}


def test_empty_input_gives_empty_output() -> None:
    tracker = make_tracker()
    assert tracker.update([]) == TrackUpdate((), ())
    assert tracker.predicted() == []
    assert tracker.finish() == ()


def test_one_face_moving_steadily_keeps_one_id() -> None:
    tracker = make_tracker(TrackSettings(min_hits=2))
    ids = set()
    for frame in range(30):
        update = tracker.update([face(100 + 6 * frame, 200 + 2 * frame)])
        (tracked,) = update.boxes
        assert tracked.detection == 0 and tracked.hits == frame + 1 and tracked.age == frame + 1
        assert tracked.confirmed == (frame >= 1)
        assert update.ended == ()
        ids.add(tracked.track_id)
    assert ids == {1}


@pytest.mark.parametrize("dy", [0, 12])
def test_two_faces_crossing_paths_keep_their_ids(dy: int) -> None:
    """Face A walks right, face B walks left along (nearly) the same row and they pass through
    each other: at the crossing each prediction overlaps both detections (at frames 19 and 20 the
    boxes are 8 px apart), and only the velocity the filter has learnt tells them apart.
    Detections arrive in a shuffled order."""
    tracker = make_tracker()
    shuffle = random.Random(4)
    a_id = b_id = 0
    for frame in range(40):
        a, b = face(44 + 8 * frame, 200), face(356 - 8 * frame, 200 + dy)
        order = [0, 1]
        shuffle.shuffle(order)
        detections = [(a, b)[i] for i in order]
        ids = by_detection(tracker.update(detections))
        got_a, got_b = ids[order.index(0)], ids[order.index(1)]
        if frame == 0:
            a_id, b_id = got_a, got_b
        assert (got_a, got_b) == (a_id, b_id), f"swapped at frame {frame}"


def test_a_missed_face_coasts_on_its_prediction_and_resumes_its_id() -> None:
    tracker = make_tracker(TrackSettings(max_missed=5))
    for frame in range(10):
        (first,) = tracker.update([face(100 + 10 * frame, 200)]).boxes
    for frame in range(10, 14):  # four frames without a detection
        (expected,) = tracker.predicted()
        update = tracker.update([])
        (coasting,) = update.boxes
        assert coasting.track_id == first.track_id and coasting.detection is None
        assert coasting.box == expected[1]
        assert abs(coasting.box.center[0] - (100 + 10 * frame)) < 4  # it kept walking
        assert coasting.hits == 10 and coasting.age == frame + 1 and coasting.confirmed
        assert update.ended == ()
    # Ten pixels a frame for five frames: the old box would not overlap it, the prediction does.
    (resumed,) = tracker.update([face(240, 200)]).boxes
    assert resumed.track_id == first.track_id and resumed.detection == 0 and resumed.hits == 11


def test_a_track_ends_after_max_missed_frames() -> None:
    tracker = make_tracker(TrackSettings(max_missed=3))
    (tracked,) = tracker.update([face(100, 100)]).boxes
    for _ in range(3):
        update = tracker.update([])
        assert [b.track_id for b in update.boxes] == [tracked.track_id] and update.ended == ()
    assert tracker.update([]) == TrackUpdate((), (tracked.track_id,))
    assert tracker.predicted() == []


def test_max_missed_zero_ends_a_track_at_its_first_miss() -> None:
    tracker = make_tracker(TrackSettings(max_missed=0))
    tracker.update([face(100, 100)])
    assert tracker.update([face(400, 400)]).ended == (1,)


def test_a_single_spurious_detection_is_never_confirmed() -> None:
    tracker = make_tracker(TrackSettings(min_hits=2, max_missed=4))
    seen: list[TrackedBox] = []
    ended: list[int] = []
    for frame in range(8):
        update = tracker.update([face(300, 300)] if frame == 0 else [])
        seen.extend(update.boxes)
        ended.extend(update.ended)
    assert seen and not any(b.confirmed for b in seen)
    assert ended == [seen[0].track_id]


def test_min_hits_one_confirms_at_once() -> None:
    (tracked,) = make_tracker(TrackSettings(min_hits=1)).update([face(50, 50)]).boxes
    assert tracked.confirmed and tracked.hits == 1 and tracked.age == 1


def test_ids_are_never_reused() -> None:
    tracker = make_tracker(TrackSettings(max_missed=0))
    ids: list[int] = []
    for frame in range(20):
        # Faces far apart from one frame to the next: every frame ends all tracks, starts new ones.
        offset = 500 * (frame % 2)
        update = tracker.update([face(100 + offset, 100), face(100 + offset, 300)])
        ids.extend(b.track_id for b in update.boxes)
    ids.extend(tracker.finish())
    fresh = ids[: 2 * 20]
    assert len(set(fresh)) == len(fresh) and min(fresh) >= 1
    assert fresh == sorted(fresh)
    assert make_tracker().update([face(1, 1)]).boxes[0].track_id == 1  # per tracker


def test_finish_ends_every_live_track() -> None:
    tracker = make_tracker()
    update = tracker.update([face(100, 100), face(300, 100)])
    assert tracker.finish() == tuple(b.track_id for b in update.boxes)
    assert tracker.predicted() == [] and tracker.finish() == ()
    assert tracker.update([]) == TrackUpdate((), ())


def test_a_fast_face_with_little_overlap_continues_by_centre_distance() -> None:
    """At a low frame rate a face can move most of its width between frames: IoU below min_iou,
    but the centre within one box width, and the same size."""
    tracker = make_tracker(TrackSettings(min_iou=0.3))
    (first,) = tracker.update([face(100, 100, 60)]).boxes
    moved = face(145, 100, 60)  # 45 px in a 60 px box: IoU 0.14
    assert moved.iou(first.box) < 0.3
    (second,) = tracker.update([moved]).boxes
    assert second.track_id == first.track_id and second.hits == 2


@pytest.mark.parametrize(
    ("far", "why"),
    [(face(100 + 70, 100, 60), "beyond one width"), (face(130, 100, 100), "much larger")],
)
def test_the_centre_fallback_needs_a_near_face_of_similar_size(far: Box, why: str) -> None:
    tracker = make_tracker(TrackSettings(min_iou=0.5))
    (first,) = tracker.update([face(100, 100, 60)]).boxes
    update = tracker.update([far])
    assert by_detection(update)[0] != first.track_id, why


def test_an_overlapping_match_beats_a_centre_distance_match() -> None:
    tracker = make_tracker(TrackSettings(min_iou=0.3))
    (first,) = tracker.update([face(100, 100, 60)]).boxes
    update = tracker.update([face(150, 100, 60), face(105, 100, 60)])
    assert by_detection(update)[1] == first.track_id


def test_predicted_changes_nothing() -> None:
    tracker = make_tracker()
    for frame in range(5):
        tracker.update([face(100 + 5 * frame, 100), face(300, 100 + 5 * frame)])
    assert tracker.predicted() == tracker.predicted()
    ((_, a), (_, b)) = tracker.predicted()
    assert abs(a.center[0] - 125) <= 2 and abs(b.center[1] - 125) <= 2


def test_vectorised_iou_matches_box_iou() -> None:
    rng = random.Random(0)
    boxes = []
    for _ in range(30):
        left, top = rng.randint(0, 200), rng.randint(0, 200)
        boxes.append(Box(left, top, left + rng.randint(5, 120), top + rng.randint(5, 120)))
    centres = _measurements(boxes)
    scores = _affinity(centres, centres, min_iou=1e-9)
    for i, j in itertools.product(range(30), repeat=2):
        if boxes[i].iou(boxes[j]) > 0:
            assert scores[i, j] == pytest.approx(boxes[i].iou(boxes[j]))


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (4, 2), (2, 5), (6, 6)])
def test_hungarian_finds_the_cheapest_assignment(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for _ in range(20):
        cost = rng.random(shape)
        pairs = _hungarian(cost)
        assert len(pairs) == min(shape)
        assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == min(shape)
        rows, cols = shape
        best = min(
            sum(cost[r, c] for r, c in zip(range(rows), perm, strict=False))
            if rows <= cols
            else sum(cost[r, c] for r, c in zip(perm, range(cols), strict=False))
            for perm in itertools.permutations(range(max(shape)), min(shape))
        )
        assert sum(cost[r, c] for r, c in pairs) == pytest.approx(best)


def test_many_faces_each_keep_their_id() -> None:
    """Ten faces walking in step, close enough that neighbours' boxes overlap."""
    tracker = make_tracker()
    first = None
    for frame in range(30):
        detections = [face(30 * i + 3 * frame, 100 + 2 * frame) for i in range(10)]
        ids = by_detection(tracker.update(detections))
        first = first or ids
        assert ids == first
