"""The in-memory gallery alone: arrays in, records out (the store-backed one is tested in
tests/consent/test_gallery.py)."""

from __future__ import annotations

import numpy as np

from consentcam.match.gallery import FusedGallery, verification
from consentcam.model_card import model_card


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(128).astype(np.float32)
    return v / np.linalg.norm(v)


def test_members_are_fused_found_and_removed() -> None:
    gallery = FusedGallery(kind="exact", exact_max=10)
    gallery.ensure_index(2)
    a, b = _unit(1), _unit(2)
    live = {"t1": "alice", "t2": "alice", "t3": "bob"}
    assert gallery.changed_members(live) == {"alice", "bob"}
    gallery.add_members({"alice", "bob"}, live, {"t1": a, "t2": a, "t3": b})
    assert gallery.members == 2 and gallery.changed_members(live) == set()
    assert gallery.identify(a, threshold=0.1).member_id == "alice"
    gallery.remove_members(["alice"])
    assert gallery.members == 1 and gallery.changed_members(live) == {"alice"}
    unknown = gallery.identify(a, threshold=0.1)
    assert unknown.member_id is None and unknown.gallery_members == 1


def test_an_empty_gallery_and_an_empty_claim_are_unknown() -> None:
    assert FusedGallery(exact_max=10).identify(_unit(3), threshold=0.5).member_id is None
    empty = verification(_unit(3), "alice", np.zeros((0, 128), np.float32))
    assert empty.member_id is None and empty.threshold == model_card().verification_threshold
    assert verification(_unit(3), "alice", _unit(3)[None, :]).member_id == "alice"
