#!/usr/bin/env python
"""Write ``src/consentcam/model_card.json`` from two ``consentcam eval lfw --json`` reports.

Usage:
  consentcam eval lfw --root ../shared/data/lfw --json > default.json
  consentcam eval lfw --root ../shared/data/lfw --accurate --json > accurate.json
  python benchmarks/update_model_card.py default.json accurate.json --version 2026.11.1

The default report supplies the thresholds (they belong to the default runtime settings);
the accurate one is recorded for comparison.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

CARD = Path(__file__).resolve().parents[1] / "src" / "consentcam" / "model_card.json"


def summary(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "settings": report["settings"],
        "accuracy_mean": round(report["accuracy_mean"], 4),
        "accuracy_std": round(report["accuracy_std"], 4),
        "eer": round(report["eer"], 4),
        "tar_at_far_1e-3": round(report["tar_at_far_1e-3"], 4),
        "tar_at_far_1e-2": round(report["tar_at_far_1e-2"], 4),
        "no_face": report["no_face"],
        "seconds": report["seconds"],
        "images_per_second": round(report["images"] / report["seconds"], 1),
    }


def card(default: dict[str, Any], accurate: dict[str, Any], version: str) -> dict[str, Any]:
    thresholds = default["fold_thresholds"]
    return {
        "version": version,
        "model_id": "dlib_face_recognition_resnet_model_v1",
        "packages": {
            "weights": "face_recognition_models==0.3.0",
            "runtime": "dlib-bin==20.0.1.post1",
        },
        "licence": "the ResNet, MMOD and 5-point landmark models were released into the public "
        "domain by their author; the 68-point model is never used",
        "embedding_size": 128,
        "embedding": "dlib ResNet descriptors of the aligned chip and its mirror image, each "
        "scaled to unit length, averaged and scaled to unit length again",
        "distance": "euclidean",
        "verification_threshold": round(sum(thresholds) / len(thresholds), 4),
        "verification_threshold_note": "mean of the ten LFW View 2 fold thresholds (each chosen "
        "for accuracy on the other nine folds)",
        "operating_points": [
            {"fmr": p["fmr"], "threshold": p["threshold"], "fnmr": round(p["fnmr"], 4)}
            for p in default["operating_points"]
        ],
        "operating_points_note": "threshold at which the false-match rate over every "
        f"cross-person pair of the {default['images']} LFW View 2 images "
        f"({default['operating_points'][0]['impostor_pairs']} pairs) is at most fmr, and the "
        "false non-match rate over every same-person pair at that threshold",
        "identification": {
            "default_target_fpir": 1e-3,
            "rule": "for a gallery of N members, decide at threshold_at_fmr(target_fpir / N), "
            "since FPIR is about N x FMR",
        },
        "measured_on": {
            "dataset": "LFW deep-funneled, View 2 pairs.txt (research use only: thresholds and "
            "the choice of test-time augmentation are measured on it; no model weight is trained "
            "on it)",
            "date": dt.date.today().isoformat(),
            "command": "consentcam eval lfw --root ../shared/data/lfw --json",
        },
        "lfw": {"default": summary(default), "accurate": summary(accurate)},
        "settings": default["settings"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("default", type=Path)
    parser.add_argument("accurate", type=Path)
    parser.add_argument("--version", required=True)
    args = parser.parse_args()
    doc = card(
        json.loads(args.default.read_text()), json.loads(args.accurate.read_text()), args.version
    )
    CARD.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {CARD}")


if __name__ == "__main__":
    main()
