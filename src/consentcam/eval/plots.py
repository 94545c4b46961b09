"""ROC and DET plots (PNG) for a verification report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from consentcam.eval.metrics import Roc


def write_plots(roc: Roc, out_dir: Path, title: str) -> list[Path]:
    """Write ``roc.png`` (TAR against FAR, log FAR axis) and ``det.png`` (FNMR against FMR, both
    log axes, as ISO/IEC 19795-1 recommends) into ``out_dir``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    floor = 1e-4
    fmr = np.clip(roc.fmr, floor, 1)
    fnmr = np.clip(1 - roc.tmr, floor, 1)

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    ax.plot(fmr, roc.tmr, lw=1.5)
    ax.set_xscale("log")
    ax.set_xlim(floor, 1)
    ax.set_ylim(min(0.9, float(roc.tmr[fmr >= 1e-3].min()) if (fmr >= 1e-3).any() else 0.9), 1.0)
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_title(f"ROC - {title}")
    ax.grid(True, which="both", alpha=0.3)
    roc_path = out_dir / "roc.png"
    fig.tight_layout()
    fig.savefig(roc_path)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    ax.plot(fmr, fnmr, lw=1.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor, 1)
    ax.set_ylim(floor, 1)
    ax.plot([floor, 1], [floor, 1], ls="--", lw=0.8, color="grey", label="FMR = FNMR")
    ax.set_xlabel("false match rate (FMR)")
    ax.set_ylabel("false non-match rate (FNMR)")
    ax.set_title(f"DET - {title}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower left")
    det_path = out_dir / "det.png"
    fig.tight_layout()
    fig.savefig(det_path)
    plt.close(fig)
    return [roc_path, det_path]
