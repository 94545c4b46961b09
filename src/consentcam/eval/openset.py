"""Open-set identification on LFW (ISO/IEC 19795-1 terms), to show how gallery size drives
false alerts.

Gallery: the first image of every person with two or more images. Mated probes: those people's
other images. Non-mated probes: every person with exactly one image (never enrolled). For a
threshold ``t``, FPIR is the fraction of non-mated probes whose nearest gallery entry is within
``t`` (a false alert), and FNIR the fraction of mated probes whose nearest entry is not their own
identity within ``t`` (a missed member). Smaller galleries are random subsets of the people (with
their mated probes), averaged over several draws.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from consentcam.errors import InputError
from consentcam.eval import metrics
from consentcam.eval.lfw import IMAGES_DIR, ImageKey
from consentcam.match.scores import pairwise_distances

TARGET_FPIRS = (1e-2, 1e-3)


@dataclass(frozen=True, slots=True)
class OpenSetSplit:
    gallery: list[ImageKey]
    mated: list[ImageKey]
    non_mated: list[ImageKey]


def lfw_people(root: Path) -> dict[str, list[int]]:
    """Image numbers per person, from the folder layout (``<Name>/<Name>_NNNN.jpg``)."""
    people: dict[str, list[int]] = defaultdict(list)
    for path in sorted((root / IMAGES_DIR).glob("*/*.jpg")):
        stem = path.stem
        name, _, number = stem.rpartition("_")
        if name != path.parent.name or not number.isdigit():
            continue
        people[name].append(int(number))
    if not people:
        raise InputError(f"{root / IMAGES_DIR}: no LFW images found")
    return {k: sorted(v) for k, v in people.items()}


def openset_split(people: dict[str, list[int]]) -> OpenSetSplit:
    gallery: list[ImageKey] = []
    mated: list[ImageKey] = []
    non_mated: list[ImageKey] = []
    for name in sorted(people):
        numbers = people[name]
        if len(numbers) >= 2:
            gallery.append((name, numbers[0]))
            mated.extend((name, n) for n in numbers[1:])
        else:
            non_mated.append((name, numbers[0]))
    if not gallery or not non_mated:
        raise InputError("open-set protocol needs people with 2+ images and people with 1 image")
    return OpenSetSplit(gallery, mated, non_mated)


def openset_report(
    split: OpenSetSplit,
    embeddings: dict[ImageKey, np.ndarray],
    sizes: list[int | None],
    draws: int = 5,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """FNIR at FPIR targets per gallery size (``None`` means the whole gallery)."""
    gallery = np.stack([embeddings[k] for k in split.gallery])
    gallery_names = np.array([k[0] for k in split.gallery])
    mated = np.stack([embeddings[k] for k in split.mated])
    mated_names = np.array([k[0] for k in split.mated])
    non_mated = np.stack([embeddings[k] for k in split.non_mated])
    d_mated = pairwise_distances(mated, gallery)
    d_non = pairwise_distances(non_mated, gallery)
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        n = len(gallery) if size is None or size >= len(gallery) else size
        repeats = 1 if n == len(gallery) else draws
        per_draw = [
            _rates(
                np.sort(rng.choice(len(gallery), n, replace=False))
                if repeats > 1
                else np.arange(n),
                d_mated,
                d_non,
                gallery_names,
                mated_names,
            )
            for _ in range(repeats)
        ]
        row: dict[str, Any] = {
            "gallery_size": n,
            "draws": repeats,
            "mated_probes": int(np.mean([r["mated_probes"] for r in per_draw])),
            "non_mated_probes": len(split.non_mated),
            "rank1_rate": float(np.mean([r["rank1_rate"] for r in per_draw])),
        }
        for target in TARGET_FPIRS:
            key = f"{target:.0e}".replace("e-0", "e-")
            row[f"threshold_at_fpir_{key}"] = float(np.mean([r[target][0] for r in per_draw]))
            row[f"fnir_at_fpir_{key}"] = float(np.mean([r[target][1] for r in per_draw]))
        rows.append(row)
    return rows


def _rates(
    chosen: np.ndarray,
    d_mated: np.ndarray,
    d_non: np.ndarray,
    gallery_names: np.ndarray,
    mated_names: np.ndarray,
) -> dict[Any, Any]:
    names = gallery_names[chosen]
    in_gallery = np.isin(mated_names, names)
    dm = d_mated[np.ix_(in_gallery, chosen)]
    nearest = dm.argmin(axis=1)
    nearest_d = dm[np.arange(len(dm)), nearest]
    correct = names[nearest] == mated_names[in_gallery]
    non_best = d_non[:, chosen].min(axis=1)
    out: dict[Any, Any] = {
        "mated_probes": int(in_gallery.sum()),
        "rank1_rate": float(correct.mean()),
    }
    for target in TARGET_FPIRS:
        t = metrics.threshold_at_fmr(non_best, target)
        out[target] = (t, float(1 - (correct & (nearest_d <= t)).mean()))
    return out
