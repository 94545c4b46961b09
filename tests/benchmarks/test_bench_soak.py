"""Smoke test of benchmarks/bench_soak.py: three simulated live cameras under the real
``consentcam run`` for about 20 s, checking behaviour and never timings: every camera processed
frames, every frame its camera sent was processed, counted as dropped or still in flight (no
backlog), no worker restarted, the member's alert was written, memory figures for every process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import ModuleType

import pytest

from tests.benchmarks.support import load_benchmark
from tests.support.paths import REPO

BENCH = REPO / "benchmarks" / "bench_soak.py"
CAMERAS = 3
# Warm-up is short but covers start-up (all cameras are processing within ~5 s here), so the
# RSS start and the fps window fall in the steady state.
SMALL_RUN = [
    "--cameras", str(CAMERAS),
    "--seconds", "22",
    "--warmup-s", "8",
    "--sample-s", "2",
    "--json",
]  # fmt: skip


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark(BENCH)


@pytest.mark.slow
def test_soak_degrades_by_counted_drops_and_keeps_the_member_alert() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), *SMALL_RUN],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert report["cameras"] == CAMERAS
    assert report["run_exit_code"] == 0
    assert report["tracebacks_in_log"] == 0
    cameras = report["per_camera"]
    assert set(cameras) == {f"cam-{i + 1}" for i in range(CAMERAS)}
    for name, c in cameras.items():
        assert c["frames_processed"] > 0, name
        assert c["frames_dropped"] >= 0, name
        # Every frame sent is processed, dropped (counted) or in flight; nothing is invented.
        assert c["frames_processed"] + c["frames_dropped"] <= c["frames_served"], name
        assert c["frames_in_flight"] == (
            c["frames_served"] - c["frames_processed"] - c["frames_dropped"]
        )
        # No backlog: frames in flight are the last second's or so, not a growing share.
        assert c["frames_in_flight"] <= c["frames_served"] // 4, name
        assert c["max_queue_depth"] <= 1, name
        assert c["restarts"] == 0, name
        total = c["frames_processed"] + c["frames_dropped"]
        assert c["drop_fraction"] == round(c["frames_dropped"] / total, 4)
    assert report["totals"]["frames_dropped"] == sum(c["frames_dropped"] for c in cameras.values())
    assert report["totals"]["alerts"] >= 1  # the member walks through every loop of the clip

    rss = report["rss"]
    assert set(cameras) | {"supervisor"} <= set(rss)
    for name, figures in rss.items():
        assert figures["start_mib"] > 0 and figures["end_mib"] > 0, name
        assert figures["peak_mib"] >= max(figures["start_mib"], figures["end_mib"]), name
        assert figures["growth_mib"] == pytest.approx(
            figures["end_mib"] - figures["start_mib"], abs=0.11
        )
    assert len(report["load_average"]["end"]) == 3


def test_rss_report_takes_start_after_warmup_and_fits_the_slope(bench: ModuleType) -> None:
    # KiB over seconds: a warm-up jump, then 1 MiB a minute.
    points = [(0.0, 1024), (10.0, 204800), (30.0, 204800), (90.0, 205824), (150.0, 206848)]
    report = bench.rss_report(points, since=30.0)
    assert report == {
        "start_mib": 200.0,
        "end_mib": 202.0,
        "peak_mib": 202.0,
        "growth_mib": 2.0,
        "slope_mib_per_min": 1.0,
    }
    assert bench.slope([(5.0, 1.0)]) == 0.0


def test_descendants_and_rss_come_from_proc(bench: ModuleType) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in bench.descendants(os.getpid())
        assert bench.rss_kib(child.pid) > 0
    finally:
        child.kill()
        child.wait()
    assert bench.rss_kib(child.pid) is None
