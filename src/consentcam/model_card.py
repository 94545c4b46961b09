"""The versioned model card shipped with the package: what the model is, how it was measured, and
the thresholds every default in the library and CLI comes from."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from consentcam.errors import InputError


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    fmr: float  # target false-match rate
    threshold: float  # Euclidean distance accepted as a match at or below
    fnmr: float  # false non-match rate measured at that threshold


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """One measured operating point of track decisions (``eval tracks`` protocol)."""

    gallery_size: int
    false_alerts_per_1000: float  # expected false alerts per 1,000 non-member visitors
    threshold: float  # fused-track distance accepted as the member at or below
    recall_1: float  # member walk-ins recognised, enrolled from one photo
    recall_3: float  # ... from three photos


@dataclass(frozen=True, slots=True)
class ModelCard:
    version: str
    model_id: str
    embedding_size: int
    distance: str
    verification_threshold: float
    operating_points: tuple[OperatingPoint, ...]  # ascending fmr
    raw: dict[str, Any]
    track_points: tuple[TrackPoint, ...] = ()  # ascending gallery size, then budget

    def threshold_at_fmr(self, fmr: float) -> float:
        """Distance threshold for a target false-match rate, interpolated log-linearly between
        measured operating points; rates outside the measured range are refused, not guessed."""
        points = self.operating_points
        if not points[0].fmr <= fmr <= points[-1].fmr:
            raise InputError(
                f"false-match rate {fmr:g} is outside the measured range "
                f"{points[0].fmr:g}..{points[-1].fmr:g} of model card {self.version}"
            )
        for lo, hi in itertools.pairwise(points):
            if lo.fmr <= fmr <= hi.fmr:
                if hi.fmr == lo.fmr:
                    return lo.threshold
                w = (math.log(fmr) - math.log(lo.fmr)) / (math.log(hi.fmr) - math.log(lo.fmr))
                return lo.threshold + w * (hi.threshold - lo.threshold)
        return points[-1].threshold

    def identification_threshold(
        self, gallery_size: int, target_fpir: float | None = None
    ) -> float:
        """Threshold for 1:N search in a gallery of ``gallery_size``: each probe meets N
        non-mated entries, so FPIR is about N x FMR and the per-comparison FMR must shrink as the
        gallery grows. Beyond the measured range the strictest measured threshold is used."""
        if gallery_size < 1:
            raise InputError(f"gallery size must be at least 1, got {gallery_size}")
        fpir = target_fpir if target_fpir is not None else self.default_target_fpir
        fmr = fpir / gallery_size
        lowest, highest = self.operating_points[0].fmr, self.operating_points[-1].fmr
        return self.threshold_at_fmr(min(max(fmr, lowest), highest))

    @property
    def default_target_fpir(self) -> float:
        return float(self.raw["identification"]["default_target_fpir"])

    @property
    def default_false_alerts_per_1000(self) -> float:
        return float(self.raw["tracks"]["default_false_alerts_per_1000"])

    @property
    def track_sizes(self) -> tuple[int, ...]:
        return tuple(sorted({p.gallery_size for p in self.track_points}))

    @property
    def track_budgets(self) -> tuple[float, ...]:
        return tuple(sorted({p.false_alerts_per_1000 for p in self.track_points}))

    def track_threshold(
        self, gallery_size: int, false_alerts_per_1000: float | None = None
    ) -> float:
        """Threshold on a track's fused distance for a site of ``gallery_size`` members and a
        false-alert budget, interpolated log-linearly in both between measured points. Gallery
        sizes outside the measured range take the nearest measured size (beyond the largest,
        false alerts grow above the budget: ``calibration`` says so); budgets outside the
        measured range are refused."""
        return self.track_point(gallery_size, false_alerts_per_1000).threshold

    def track_point(
        self, gallery_size: int, false_alerts_per_1000: float | None = None
    ) -> TrackPoint:
        """The operating point (threshold and expected recall) for a gallery size and budget."""
        if gallery_size < 1:
            raise InputError(f"gallery size must be at least 1, got {gallery_size}")
        budget = (
            self.default_false_alerts_per_1000
            if false_alerts_per_1000 is None
            else (false_alerts_per_1000)
        )
        budgets = self.track_budgets
        if not budgets[0] <= budget <= budgets[-1]:
            raise InputError(
                f"false-alert budget {budget:g} per 1,000 is outside the measured range "
                f"{budgets[0]:g}..{budgets[-1]:g} of model card {self.version}"
            )
        sizes = self.track_sizes
        n = min(max(gallery_size, sizes[0]), sizes[-1])
        at_size = [self._track_at(size, budget) for size in sizes]
        for (lo_n, lo), (hi_n, hi) in itertools.pairwise(zip(sizes, at_size, strict=True)):
            if lo_n <= n <= hi_n:
                w = (math.log(n) - math.log(lo_n)) / (math.log(hi_n) - math.log(lo_n))
                return _mix(lo, hi, w, gallery_size, budget)
        return _mix(at_size[0], at_size[0], 0.0, gallery_size, budget)

    def _track_at(self, size: int, budget: float) -> TrackPoint:
        points = [p for p in self.track_points if p.gallery_size == size]
        for lo, hi in itertools.pairwise(points):
            if lo.false_alerts_per_1000 <= budget <= hi.false_alerts_per_1000:
                w = (math.log(budget) - math.log(lo.false_alerts_per_1000)) / (
                    math.log(hi.false_alerts_per_1000) - math.log(lo.false_alerts_per_1000)
                )
                return _mix(lo, hi, w, size, budget)
        return points[0]


def _mix(lo: TrackPoint, hi: TrackPoint, w: float, size: int, budget: float) -> TrackPoint:
    return TrackPoint(
        size,
        budget,
        lo.threshold + w * (hi.threshold - lo.threshold),
        lo.recall_1 + w * (hi.recall_1 - lo.recall_1),
        lo.recall_3 + w * (hi.recall_3 - lo.recall_3),
    )


@cache
def model_card() -> ModelCard:
    raw = json.loads(resources.files("consentcam").joinpath("model_card.json").read_text("utf-8"))
    return ModelCard(
        version=raw["version"],
        model_id=raw["model_id"],
        embedding_size=int(raw["embedding_size"]),
        distance=raw["distance"],
        verification_threshold=float(raw["verification_threshold"]),
        operating_points=tuple(
            sorted(
                (
                    OperatingPoint(float(p["fmr"]), float(p["threshold"]), float(p["fnmr"]))
                    for p in raw["operating_points"]
                ),
                key=lambda p: p.fmr,
            )
        ),
        raw=raw,
        track_points=tuple(
            sorted(
                (
                    TrackPoint(
                        int(p["gallery_size"]),
                        float(p["false_alerts_per_1000"]),
                        float(p["threshold"]),
                        float(p["member_recall_1_photo"]),
                        float(p["member_recall_3_photos"]),
                    )
                    for p in raw["tracks"]["operating_points"]
                ),
                key=lambda p: (p.gallery_size, p.false_alerts_per_1000),
            )
        ),
    )
