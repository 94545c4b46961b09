"""The versioned model card shipped with the package: what the model is, how it was measured, and
the thresholds every default in the library and CLI comes from."""

from __future__ import annotations

import itertools
import json
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
class ModelCard:
    version: str
    model_id: str
    embedding_size: int
    distance: str
    verification_threshold: float
    operating_points: tuple[OperatingPoint, ...]  # ascending fmr
    raw: dict[str, Any]

    def threshold_at_fmr(self, fmr: float) -> float:
        """Distance threshold for a target false-match rate, interpolated log-linearly between
        measured operating points; rates outside the measured range are refused, not guessed."""
        import math

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
    )
