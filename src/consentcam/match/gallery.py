"""A site's gallery in memory: each member's fused template in a ``GalleryIndex``, and the
decisions taken against it (arrays in, records out).

Loading a site's gallery from the store and keeping it current (consent, decryption, the change
counter) is a service above matching: ``consent/gallery.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from consentcam.match.index import GalleryIndex, IndexKind, make_index
from consentcam.match.scores import fused_template
from consentcam.model_card import model_card


@dataclass(frozen=True, slots=True)
class Identification:
    member_id: str | None
    distance: float | None
    threshold: float
    gallery_members: int


class FusedGallery:
    """Members' fused templates (one vector per member, ``fused_template`` of their live
    templates) in an index, with the templates each was fused from. Not thread-safe: its owner
    holds a lock around every call."""

    def __init__(
        self, index: GalleryIndex | None = None, *, kind: IndexKind = "auto", exact_max: int
    ) -> None:
        """``index`` injects a ready index (tests, fakes); otherwise ``ensure_index`` makes one
        when the gallery's size is known: exact search up to ``exact_max`` members, HNSW above
        (``kind`` forces either)."""
        self.index = index
        self._kind: IndexKind = kind
        self._exact_max = exact_max
        self.member_of: dict[str, str] = {}  # template id -> member id, of indexed templates
        # Members in the index, kept when it changes: every identify needs it (the threshold
        # depends on it).
        self.members = 0
        # Templates found deleted (a withdrawal), kept out until a full read no longer sees them.
        self.dropped: set[str] = set()

    def ensure_index(self, members: int) -> None:
        if self.index is None:
            self.index = make_index(self._kind, members, self._exact_max)

    def changed_members(self, current: Mapping[str, str]) -> set[str]:
        """Members with a template added to or gone from ``current`` (template id -> member id)
        since the index was built."""
        fresh = {m for t, m in current.items() if t not in self.member_of and t not in self.dropped}
        stale = {m for t, m in self.member_of.items() if t not in current}
        return fresh | stale

    def add_members(
        self, members: set[str], live: Mapping[str, str], vectors: Mapping[str, np.ndarray]
    ) -> None:
        """Index the fused vector of each of ``members`` from its ``live`` templates (template id
        -> member id) and their ``vectors``."""
        assert self.index is not None
        views: dict[str, list[str]] = {}
        for t, m in live.items():
            if m in members:
                views.setdefault(m, []).append(t)
        if not views:
            return
        ids = sorted(views)
        fused = np.stack([fused_template(np.stack([vectors[t] for t in views[m]])) for m in ids])
        self.index.add(ids, fused)
        fused.fill(0)
        for m in ids:
            self.member_of.update(dict.fromkeys(views[m], m))
        self.members = len(self.index)

    def remove_members(self, member_ids: Collection[str]) -> None:
        """Take members out of the index and their templates out of the member map."""
        if not member_ids:
            return
        assert self.index is not None
        self.index.remove(list(member_ids))
        gone = set(member_ids)
        self.member_of = {t: m for t, m in self.member_of.items() if m not in gone}
        self.members = len(self.index)

    def identify(self, probe: np.ndarray, threshold: float) -> Identification:
        """The member whose fused template is nearest ``probe`` (in the index's space), if within
        ``threshold``; else unknown."""
        if not self.members:
            return Identification(None, None, threshold, 0)
        assert self.index is not None  # members exist only once an index was made
        (best,) = self.index.search(probe, k=1)
        member = best.id if best.distance <= threshold else None
        return Identification(member, best.distance, threshold, self.members)


def identification_threshold(
    members: int,
    views: int,
    target_fpir: float | None,
    false_alerts_per_1000: float | None,
    override: float | None,
) -> float:
    """One view (a still photo, one frame) is held to the model card's image threshold for
    ``target_fpir``; the fusion of several views of a track to the track threshold for the
    site's false-alert budget (measured on fused views: they are better evidence), or the
    admin's stricter override (``track_threshold``)."""
    if views > 1:
        return track_threshold(members, false_alerts_per_1000, override)
    return model_card().identification_threshold(max(members, 1), target_fpir)


def verification(probe: np.ndarray, member_id: str, templates: np.ndarray) -> Identification:
    """1:1 check of ``probe`` against one member's ``templates`` (both in the same space): a
    match at the model card's verification threshold (the claim narrows the search to one
    person, so no gallery-size correction applies)."""
    threshold = model_card().verification_threshold
    if not len(templates):
        return Identification(None, None, threshold, 0)
    distance = float(np.linalg.norm(fused_template(templates) - probe))
    return Identification(member_id if distance <= threshold else None, distance, threshold, 1)


def track_threshold(
    members: int, false_alerts_per_1000: float | None, override: float | None = None
) -> float:
    """The threshold a site's workers hold a track's fused views to: the model card's for the
    gallery's size and the site's false-alert budget, or the admin's override where stricter.
    An override never loosens: as the gallery grows the card's threshold may pass below it."""
    threshold = model_card().track_threshold(max(members, 1), false_alerts_per_1000)
    return threshold if override is None else min(threshold, override)
