"""Stop signals on the long-running verbs (issue 13, item 12), on the real processes.

A terminal's Ctrl-C sends SIGINT, a closed terminal SIGHUP, a service manager SIGTERM (systemd:
to every process of the service). Each must end ``demo`` with its throwaway store (and its
development key) deleted, and ``serve`` and ``run`` cleanly with exit 0, ``run``'s camera
processes writing the footfall they hold in memory first."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import pytest

from consentcam.pipeline.clips import ClipTruth

Run = Callable[..., tuple[int, str, str]]
STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
SIGNAL_IDS = ["SIGINT", "SIGTERM", "SIGHUP"]
# How long a stopped process may take to finish (a camera writes its footfall, uvicorn closes).
STOP_WITHIN_S = 30
START_WITHIN_S = 180  # a loaded two-core machine loading the models


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTCAM_")}
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env.update(extra)
    return env


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``consentcam ARGS...`` in its own session (signals sent to its group reach only it
    and its children); whatever is left of the group is killed at the end of the test."""
    started: list[subprocess.Popen[bytes]] = []

    def run(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"process-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "consentcam", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield run
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _log(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("process-*.log")))


def _wait_for(ready: Callable[[], bool], process: subprocess.Popen[bytes], tmp_path: Path) -> None:
    deadline = time.monotonic() + START_WITHIN_S
    while not ready():
        assert process.poll() is None, (
            f"exited {process.returncode} before ready:\n{_log(tmp_path)}"
        )
        assert time.monotonic() < deadline, f"not ready in {START_WITHIN_S} s:\n{_log(tmp_path)}"
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _stopped(process: subprocess.Popen[bytes], tmp_path: Path) -> int:
    try:
        return process.wait(STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_WITHIN_S} s after the signal:\n{_log(tmp_path)}")


def _group_gone(pgid: int) -> bool:
    """True once no process of the group is left (camera processes included)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _demo_folders(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "tmp").glob("consentcam-demo-*"))


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=SIGNAL_IDS)
def test_demo_serving_the_dashboard_deletes_its_store_on_each_stop_signal(
    tmp_path: Path, start: Callable[..., subprocess.Popen[bytes]], sig: signal.Signals
) -> None:
    port = _free_port()
    demo = start("demo", "--port", str(port), env=_environment(tmp_path))
    _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), demo, tmp_path)
    (folder,) = _demo_folders(tmp_path)
    assert (folder / "store").is_dir()  # the throwaway store, development key included

    demo.send_signal(sig)
    assert _stopped(demo, tmp_path) == 0, _log(tmp_path)
    assert not folder.exists(), f"{folder} left behind"
    assert _demo_folders(tmp_path) == []


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=SIGNAL_IDS)
def test_demo_stopped_while_it_works_deletes_its_store(
    tmp_path: Path, start: Callable[..., subprocess.Popen[bytes]], sig: signal.Signals
) -> None:
    """Stopped while the door camera runs on the sample clip (before any dashboard): ended the
    way Ctrl-C ends it (the CLI's "aborted", exit 1), its folder deleted."""
    demo = start("demo", "--headless", env=_environment(tmp_path))
    _wait_for(lambda: bool(_demo_folders(tmp_path)), demo, tmp_path)
    demo.send_signal(sig)
    code = _stopped(demo, tmp_path)
    assert _demo_folders(tmp_path) == [], f"left behind (exit {code}):\n{_log(tmp_path)}"
    assert code == 1 and _log(tmp_path).strip().endswith("aborted"), _log(tmp_path)


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=SIGNAL_IDS)
def test_serve_shuts_down_cleanly_on_each_stop_signal(
    tmp_path: Path,
    run_cli: Run,
    start: Callable[..., subprocess.Popen[bytes]],
    sig: signal.Signals,
) -> None:
    store = str(tmp_path / "store")
    assert run_cli("--data-dir", store, "init", "--dev")[0] == 0
    port = _free_port()
    serve = start(
        "--data-dir", store, "serve", "--dev", "--port", str(port), env=_environment(tmp_path)
    )
    _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), serve, tmp_path)

    serve.send_signal(sig)
    assert _stopped(serve, tmp_path) == 0, _log(tmp_path)
    assert "Application shutdown complete" in _log(tmp_path)


@pytest.fixture(scope="module")
def long_clip(
    tmp_path_factory: pytest.TempPathFactory, two_people_clip: tuple[Path, ClipTruth]
) -> Path:
    """The two-people clip 30 times over (2,700 frames): a camera is still busy with it when
    it is told to stop (each pass adds about two visits)."""
    capture = cv2.VideoCapture(str(two_people_clip[0]))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    path = tmp_path_factory.mktemp("clips") / "long.mp4"
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30, (width, height))
    for _ in range(30):
        for frame in frames:
            writer.write(frame)
    writer.release()
    return path


def _frames_processed(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return 0
    found = re.search(r'^consentcam_camera_frames_total\{camera="entrance"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


@pytest.mark.parametrize(
    ("sig", "group"),
    [(sig, True) for sig in STOP_SIGNALS] + [(signal.SIGTERM, False), (signal.SIGHUP, False)],
    ids=[f"{name} to the group" for name in SIGNAL_IDS] + ["SIGTERM only", "SIGHUP only"],
)
def test_run_writes_the_footfall_it_holds_on_each_stop_signal(
    tmp_path: Path,
    run_cli: Run,
    start: Callable[..., subprocess.Popen[bytes]],
    long_clip: Path,
    sig: signal.Signals,
    group: bool,
) -> None:
    """The signal goes to the whole process group, as a terminal or systemd sends it (the
    supervisor and its camera process), or to the supervisor only (``kill PID``). Footfall is
    written once an hour here, so what the store holds afterwards was written by the camera's
    shutdown."""
    store = str(tmp_path / "store")

    def cli(*args: str) -> tuple[int, str, str]:
        return run_cli("--data-dir", store, *args)

    assert cli("init", "--dev")[0] == 0
    assert cli("site", "add", "shop", "--jurisdiction", "eu")[0] == 0
    add = ("camera", "add", "shop", "entrance", "--source", str(long_clip), "--mode", "count")
    assert cli(*add, "--line", "0.5,0,0.5,1")[0] == 0
    port = _free_port()
    env = _environment(tmp_path, CONSENTCAM_PIPELINE__FOOTFALL_FLUSH_S="3600")
    supervisor = start("--data-dir", store, "run", "--metrics-port", str(port), env=env)
    _wait_for(lambda: _frames_processed(port) >= 60, supervisor, tmp_path)

    if group:
        os.killpg(supervisor.pid, sig)
    else:
        supervisor.send_signal(sig)
    assert _stopped(supervisor, tmp_path) == 0, _log(tmp_path)
    assert _group_gone(supervisor.pid), "a camera process outlived the supervisor"
    code, out, err = cli("footfall", "--site", "shop", "--json")
    assert code == 0, err
    visits = sum(hour["visits"] for hour in json.loads(out)["hours"])
    # Written at the stop, and the stop came early: the whole clip is about 60 visits.
    assert 1 <= visits < 40, f"{visits} visits:\n{_log(tmp_path)}"
