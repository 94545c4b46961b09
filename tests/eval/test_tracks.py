"""The door-like protocol (``eval tracks``): who walks in with which photos, the report's
figures, and a small run through the real camera worker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from consentcam.config import load_settings
from consentcam.eval import tracks
from consentcam.eval.tracks import AnchorFrames, Config, Enrollee, TrackProtocol, WalkResult

LFW = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lfw"


def _protocol(members: int, distractors: int) -> TrackProtocol:
    people = tuple(Enrollee(f"m{i}", ()) for i in range(members))
    others = tuple(Enrollee(f"d{i}", ()) for i in range(distractors))
    return TrackProtocol(people, others, ())


def test_rows_count_recall_wrong_members_false_alerts_and_delays() -> None:
    protocol = _protocol(3, 1)
    config = Config(4, 1)
    walks = [
        WalkResult("m0", True, 2, "m0", 12, 5),  # recognised 10 frames after first seen
        WalkResult("m1", True, 0, "m2", 5, 4),  # wrong member
        WalkResult("m2", True, 1, None, None, 9),  # missed
        WalkResult("v0", False, 0, "m1", 7, 6),  # false alert
        WalkResult("v1", False, 0, None, None, 11),
    ]
    (row,) = tracks.track_rows([{config.site: w} for w in walks], [config], protocol)
    assert row["member_tracks"] == 3 and row["member_recall"] == round(1 / 3, 4)
    assert row["wrong_member_tracks"] == 1
    assert row["nonmember_tracks"] == 2 and row["false_alerts_per_1000"] == 500.0
    assert row["decision_frames_p50"] == 10.0
    assert row["embeddings_per_visitor_track_max"] == 11


def test_the_anchor_is_also_compared_at_our_false_alert_rate() -> None:
    """At 0.6 the naive loop alerts on every visitor; at the matched tolerance on no more than
    ours, and a member counts from the first frame naming them."""
    protocol = _protocol(2, 0)
    config = Config(2, 1)
    site = config.site
    anchors = [
        AnchorFrames("m0", True, {site: [(0, "m1", 0.55), (3, "m0", 0.30)]}),
        AnchorFrames("m1", True, {site: [(1, "m1", 0.45)]}),
        AnchorFrames("v0", False, {site: [(0, "m0", 0.50)]}),
        AnchorFrames("v1", False, {site: [(0, "m1", 0.58)]}),
    ]
    ours = [{"false_alerts_per_1000": 0.0}]
    loose, matched = tracks.anchor_rows(anchors, [config], protocol, ours)
    assert loose["tolerance"] == 0.6 and loose["false_alerts_per_1000"] == 1000.0
    assert loose["wrong_member_tracks"] == 1  # m0's first named frame says m1
    assert matched["tolerance"] < 0.5 and matched["false_alerts"] == 0
    assert (
        matched["member_recall"] == 1.0 and matched["decision_frames_p50"] == 1.5
    )  # delays 3 and 0


@pytest.mark.slow
def test_a_small_protocol_runs_through_the_camera_worker(tmp_path: Path) -> None:
    if not (LFW / "lfw-deepfunneled").is_dir():
        pytest.fail(f"the LFW copy is missing at {LFW}")
    settings = load_settings(data_dir=tmp_path / "unused", dev=True)
    protocol = tracks.track_protocol(
        LFW, settings, sizes=(4,), enrol_photos=1, members=2, visitors=2, workers=2
    )
    for member, walker in zip(protocol.members, protocol.walkers, strict=False):
        enrolment = {c.path for c in member.photos}
        assert walker.member and not enrolment & set(walker.photos), "never the enrolment photos"
        assert 2 <= len(walker.photos) <= tracks.WALK_PHOTOS
    config = Config(4, 1)
    store = tracks.protocol_store(protocol, [config], tmp_path / "store")
    results, anchors = tracks.run_walks(protocol, store, [config], workers=1)
    (row,) = tracks.track_rows(results, [config], protocol)
    assert row["member_tracks"] == 2 and row["nonmember_tracks"] == 2
    assert row["wrong_member_tracks"] == 0
    assert 0 < row["embeddings_per_visitor_track_max"] <= 2 * settings.pipeline.max_embeds
    assert anchors == []
    frames = list(tracks.walk_frames(protocol.walkers[0], seed=0))
    assert len(frames) == tracks.WALK_FRAMES
    assert frames[0].shape == (tracks.FRAME_SIZE[1], tracks.FRAME_SIZE[0], 3)


def test_the_command_refuses_sizes_it_cannot_use(
    run_cli: Callable[..., tuple[int, str, str]],
) -> None:
    code, _, err = run_cli("eval", "tracks", "--root", str(LFW), "--sizes", "all")
    assert code == 2 and "--sizes" in err
    code, _, err = run_cli("eval", "tracks", "--root", str(LFW), "--enrol-photos", "9")
    assert code == 2 and "--enrol-photos" in err
