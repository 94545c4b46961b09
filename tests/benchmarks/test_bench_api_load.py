"""Smoke test of benchmarks/bench_api_load.py: a few seconds of load with a handful of staff
sessions and event-stream listeners, checking behaviour and never timings: no error from the
staff reads, every listener gets every alert, no connection left open, an intact audit chain."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmarks.support import load_benchmark
from tests.support.paths import REPO
from tests.support.stores import BACKENDS, PG_URL_VAR

BENCH = REPO / "benchmarks" / "bench_api_load.py"
LISTENERS = 4
SMALL_RUN = [
    "--duration", "3",
    "--reference-duration", "1",
    "--sessions", "4",
    "--listeners", str(LISTENERS),
    "--connections", "5",
    "--members", "12",
    "--past-events", "5",
    "--rate", "5",
    "--json",
]  # fmt: skip


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark(BENCH)


def need_wrk() -> None:
    if shutil.which("wrk") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install wrk (see .ci/run)")
        pytest.skip("the API load benchmark drives the server with wrk: apt-get install wrk")


def store_args(backend: str, tmp_path: Path) -> list[str]:
    if backend == "sqlite":
        return ["--data-dir", str(tmp_path / "store")]
    server = os.environ.get(PG_URL_VAR)
    if not server:
        if os.environ.get("CI"):
            pytest.fail(f"CI must start PostgreSQL and set {PG_URL_VAR} (see .ci/run)")
        pytest.skip(f"PostgreSQL tests need {PG_URL_VAR} (bash .ci/postgres.sh prints one)")
    return ["--db-url", server]  # the benchmark makes a throwaway database on this server


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_short_load_run_serves_every_request_and_delivers_every_event(
    backend: str, tmp_path: Path, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    need_wrk()
    done = subprocess.run(
        [sys.executable, str(BENCH), *SMALL_RUN, *store_args(backend, tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["backend"] == backend

    for phase in ("staff_mix", "reference"):
        figures = result[phase]
        assert figures["requests"] > 0, phase
        assert figures["non_2xx"] == 0, (phase, figures["statuses"])
        assert set(figures["socket_errors"].values()) == {0}, (phase, figures["socket_errors"])
    endpoints = result["staff_mix"]["endpoints"]
    assert set(endpoints) == {"sites", "events", "members", "member_card", "footfall"}
    assert all(e["requests"] > 0 and e["non_2xx"] == 0 for e in endpoints.values()), endpoints

    sse = result["sse"]
    assert sse["connected"] == LISTENERS, sse["first_listener_error"]
    assert sse["listener_errors"] == 0 and sse["producer_errors"] == 0, sse
    assert sse["events_produced"] > 0
    assert sse["received_min"] == sse["received_max"] == sse["events_produced"]
    assert sse["listeners_with_every_event"] == LISTENERS
    assert sse["duplicates"] == 0

    server = result["server"]
    assert server["log"]["responses_5xx"] == 0, server["log"]
    assert server["log"]["tracebacks"] == 0, server["log"]
    assert server["connections_after_clients_closed"] == 0, server

    audit = result["audit"]
    assert audit["ok"], audit["reason"]
    # Invariant 5 under load: every card served was audited (one may finish after wrk stops).
    assert audit["member_views"] >= audit["member_card_2xx"] > 0
    if backend == "sqlite":
        code, out, err = run_cli("--data-dir", str(tmp_path / "store"), "audit", "verify")
        assert code == 0, out + err


def test_without_wrk_it_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--duration", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": str(tmp_path)},  # a folder without wrk
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "wrk is not installed" in done.stderr


def test_latency_percentiles_merge_histograms(bench: ModuleType) -> None:
    one = [(1000, 50), (2000, 40)]  # microseconds, count
    two = [(3000, 9), (10_000, 1)]
    assert bench.histogram_percentiles(one + two) == {
        "p50": 1.0,
        "p90": 2.0,
        "p99": 3.0,
        "max": 10.0,
    }
    assert bench.histogram_percentiles([]) == {"p50": None, "p90": None, "p99": None, "max": None}


def test_the_generated_wrk_script_rotates_the_given_paths_and_tokens(bench: ModuleType) -> None:
    endpoint = bench.Endpoint("member_card", ("/api/v1/members/a", "/api/v1/members/b"))
    script = bench.wrk_script(endpoint, ["cc_token1", "cc_token2"], offset=3)
    assert 'local paths = {"/api/v1/members/a", "/api/v1/members/b"}' in script
    assert 'local tokens = {"cc_token1", "cc_token2"}' in script
    assert "local offset = 3" in script
    assert bench.WRK_MARK + '{"requests":' in script  # done() prints the figures as JSON
