"""Smoke test of benchmarks/bench_scale.py at a few hundred members on the test PostgreSQL:
every phase runs and its figures are consistent (behaviour, never timings). pgvector is checked
where the server has the extension; CI's Debian PostgreSQL does not, and the benchmark must then
say so rather than fail or invent figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PG_URL_VAR, REPO

BENCH = REPO / "benchmarks" / "bench_scale.py"
MEMBERS, SITES, LIBRARY, WITHDRAWALS = 400, 2, 40, 3


@pytest.fixture(scope="module")
def server() -> str:
    url = os.environ.get(PG_URL_VAR)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"CI must start PostgreSQL and set {PG_URL_VAR} (see .ci/run)")
        pytest.skip(f"the scale benchmark needs PostgreSQL ({PG_URL_VAR})")
    return url


@pytest.mark.slow
def test_every_phase_runs_and_agrees_with_itself(server: str) -> None:
    done = subprocess.run(
        [
            sys.executable, str(BENCH), "--db-url", server,
            "--members", str(MEMBERS), "--sites", str(SITES),
            "--library-members", str(LIBRARY), "--withdrawals", str(WITHDRAWALS),
            "--queries", "50", "--json",
        ],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert report["members"] == MEMBERS
    assert report["enrol"]["members"] == LIBRARY and report["enrol"]["members_per_s"] > 0
    assert report["fill"]["members"] == MEMBERS - LIBRARY
    # Sites share the members evenly, library-enrolled ones included.
    assert report["gallery"]["members"] == MEMBERS // SITES
    assert report["gallery"]["rss_mb_after"] >= report["gallery"]["rss_mb_before"] > 0

    withdrawal = report["withdrawal"]
    assert withdrawal["site_members"] == MEMBERS // SITES
    # Each member was recognised by both workers before, and unknown to both after.
    assert withdrawal["failures"] == []
    assert withdrawal["withdrawals"] == WITHDRAWALS
    assert len(withdrawal["per_worker_p50_ms"]) == 2

    search = report["pgvector"]
    if "skipped" in search:
        assert "vector" in search["skipped"]
    else:
        assert search["vectors"] == MEMBERS - WITHDRAWALS
        for row in search["search"]:
            # A member probe's true nearest template is theirs; a small HNSW graph finds it.
            assert row["recall_at_1_members"] >= 0.95
