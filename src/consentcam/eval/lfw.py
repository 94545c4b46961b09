"""LFW View 2: 6,000 pairs in 10 folds, the threshold chosen on 9 folds and tested on the 10th.

Every image goes through the full runtime pipeline (decode, detect, align, embed). Where no face is
found, the fallbacks are, in order: a second HOG pass with more upsampling, the MMOD CNN detector,
and finally a centred box (the protocol needs a score for every pair); how many images needed each
is reported, so nothing is hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from consentcam.errors import InputError, NotFound
from consentcam.eval import metrics
from consentcam.match.scores import pairwise_distances

IMAGES_DIR = "lfw-deepfunneled"
PAIRS_FILE = "pairs.txt"

ImageKey = tuple[str, int]  # (person name, image number)


@dataclass(frozen=True, slots=True)
class Pair:
    a: ImageKey
    b: ImageKey
    same: bool
    fold: int


def parse_pairs(text: str) -> list[Pair]:
    """Pairs from a View 2 ``pairs.txt``: a ``folds<TAB>n`` header, then per fold ``n`` same-person
    lines ``name i j`` and ``n`` different-person lines ``name1 i name2 j``."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError("pairs file is empty")
    try:
        folds, per_fold = (int(x) for x in lines[0].split())
    except ValueError:
        raise InputError(
            f"pairs file header must be '<folds> <pairs per fold>', got {lines[0]!r}"
        ) from None
    body = lines[1:]
    if len(body) != folds * per_fold * 2:
        raise InputError(
            f"pairs file lists {len(body)} pairs, header promises {folds} x {per_fold} x 2"
        )
    pairs = []
    for n, line in enumerate(body):
        fold, pos = divmod(n, 2 * per_fold)
        parts = line.split()
        try:
            if pos < per_fold:
                if len(parts) != 3:
                    raise ValueError
                pairs.append(Pair((parts[0], int(parts[1])), (parts[0], int(parts[2])), True, fold))
            else:
                if len(parts) != 4:
                    raise ValueError
                pairs.append(
                    Pair((parts[0], int(parts[1])), (parts[2], int(parts[3])), False, fold)
                )
        except ValueError:
            kind = (
                "same-person 'name i j'" if pos < per_fold else "different-person 'name1 i name2 j'"
            )
            raise InputError(
                f"pairs file line {n + 2}: expected a {kind} line, got {line!r}"
            ) from None
    return pairs


def image_path(root: Path, key: ImageKey) -> Path:
    name, number = key
    return root / IMAGES_DIR / name / f"{name}_{number:04d}.jpg"


def check_root(root: Path) -> None:
    if not (root / IMAGES_DIR).is_dir():
        raise NotFound(f"{root}: no {IMAGES_DIR}/ folder here (pass the LFW root with --root)")


def pairs_images(pairs: list[Pair]) -> list[ImageKey]:
    return sorted({k for p in pairs for k in (p.a, p.b)})


def verification_report(
    pairs: list[Pair], embeddings: dict[ImageKey, np.ndarray]
) -> dict[str, Any]:
    """Accuracy (10-fold), EER and TAR at fixed FAR from the pairs' embedding distances."""
    dist = np.array(
        [float(np.linalg.norm(embeddings[p.a] - embeddings[p.b])) for p in pairs], dtype=np.float64
    )
    same = np.array([p.same for p in pairs])
    fold = np.array([p.fold for p in pairs])
    folds = metrics.tenfold(dist, same, fold)
    accs = np.array([f.accuracy for f in folds])
    roc = metrics.roc_curve(dist[same], dist[~same])
    return {
        "pairs": len(pairs),
        "folds": len(folds),
        "accuracy_mean": float(accs.mean()),
        "accuracy_std": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0,
        "fold_accuracies": [round(a, 4) for a in accs.tolist()],
        "fold_thresholds": [round(f.threshold, 4) for f in folds],
        "eer": metrics.equal_error_rate(roc),
        "tar_at_far_1e-3": metrics.tmr_at_fmr(roc, 1e-3),
        "tar_at_far_1e-2": metrics.tmr_at_fmr(roc, 1e-2),
        "_roc": roc,
    }


def all_pairs_thresholds(
    keys: list[ImageKey], embeddings: dict[ImageKey, np.ndarray], targets: list[float]
) -> list[dict[str, float]]:
    """Thresholds for target false-match rates measured on every cross-person pair of ``keys``
    (millions of impostor comparisons, so rates far below the 3,000 impostor pairs of View 2 are
    measurable), with the false non-match rate over every same-person pair at each."""
    matrix = np.stack([embeddings[k] for k in keys])
    names = np.array([k[0] for k in keys])
    d = pairwise_distances(matrix, matrix)
    upper = np.triu(np.ones(d.shape, dtype=bool), k=1)
    same = names[:, None] == names[None, :]
    impostor = d[upper & ~same]
    genuine = d[upper & same]
    rows = []
    for target in targets:
        t = metrics.threshold_at_fmr(impostor, target)
        rows.append(
            {
                "fmr": target,
                "threshold": round(t, 4),
                "fnmr": float((genuine > t).mean()),
                "impostor_pairs": int(impostor.size),
                "genuine_pairs": int(genuine.size),
            }
        )
    return rows


ProgressFn = Callable[[int], None]
