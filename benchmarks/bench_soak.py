#!/usr/bin/env python
"""Load and soak: N simulated live cameras under the real ``consentcam run`` supervisor.

A throwaway store (SQLite in a temporary data dir; with ``--db-url SERVER``, a throwaway database
created on that PostgreSQL server and dropped afterwards) gets a site under the ``eu`` profile,
one member (Barack Obama, enrolled from the bundled obama.jpg through the consent flow) and N door
cameras with signage attested. Each camera reads its own simulated camera
(``consentcam.pipeline.simcam``): a loopback MJPEG stream served in real time at ``--fps`` that
loops a generated door clip (the member walks in, then a passer-by, then the doorway is empty for
2 s: about 10 s a loop at 15 fps), the cameras out of step with each other.

``consentcam run`` then supervises all cameras for ``--seconds``. Every ``--sample-s`` this script
records the resident memory (VmRSS) of the supervisor and of every process under it, the
supervisor's Prometheus figures, and each camera process's socket backlog (bytes received from its
camera and not yet read: frames queuing up outside the worker). More cameras than cores is the
point: the pipeline must degrade by dropping frames (counted), not by falling behind.

Figures per camera: frames served by its simulated camera and frames that camera skipped because
the client was not reading; frames processed and dropped (overwritten in the one-frame buffer
before the worker took them), drop_fraction = dropped / (processed + dropped), frames in flight
(served but neither processed nor dropped when scraped: a backlog would show here), fps_processed
over the measured window (``--warmup-s`` to the end), restarts, reconnects, member alerts written,
the socket backlog in frames. Per process: RSS at start (the first sample after ``--warmup-s``:
models load on first use), at the end, the peak, the growth and a least-squares slope in MiB per
minute over the measured window. Also the load average and when the first alert was written. The
last line printed is one JSON document.

Usage:
  python benchmarks/bench_soak.py --json                      # 8 cameras, 15 fps 640x480, 10 min
  python benchmarks/bench_soak.py --cameras 8 --seconds 90 --json
  python benchmarks/bench_soak.py --cameras 3 --seconds 20 --warmup-s 8 --json
  python benchmarks/bench_soak.py --db-url "$(bash .ci/postgres.sh)" --json   # on PostgreSQL
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consentcam.pipeline.simcam import SimStats, SimulatedCamera, clip_jpegs, door_clip, looped
from consentcam.store.scratch import scratch_database

SITE = "soak"
MEMBER = ("Barack Obama", "obama.jpg")  # walks in the door clip (simcam.door_clip)
ALERT_KINDS = ("recognition", "verification")
STOP_WAIT_S = 60.0
METRIC_NAMES = {
    "consentcam_camera_frames_total": "frames_processed",
    "consentcam_camera_dropped_frames_total": "frames_dropped",
    "consentcam_camera_reconnects_total": "reconnects",
    "consentcam_worker_restarts_total": "restarts",
    "consentcam_camera_queue_depth": "queue_depth",
}


# -- the store -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Store:
    """The throwaway store: where it is, and the environment ``consentcam run`` needs for it."""

    data_dir: Path
    database_url: str | None
    camera_ids: dict[str, str]  # camera name -> id

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("CONSENTCAM_DATABASE_URL", None)
        env["CONSENTCAM_DATA_DIR"] = str(self.data_dir)
        env["CONSENTCAM_DEV"] = "1"  # the store's generated template key
        if self.database_url:
            env["CONSENTCAM_DATABASE_URL"] = self.database_url
        return env


def make_store(
    data_dir: Path,
    database_url: str | None,
    sources: Mapping[str, str],
    cooldown_s: float,
    evidence: Path,
) -> Store:
    """A site with one consenting, enrolled member and a door camera per ``sources`` entry
    (name -> stream URL), all through the library's consent flow."""
    from consentcam.config import load_settings
    from consentcam.consent.consents import record_consent
    from consentcam.consent.context import open_ledger
    from consentcam.consent.enrolment import enroll
    from consentcam.consent.members import add_member
    from consentcam.consent.profiles import RECOGNITION
    from consentcam.consent.sites import add_camera, add_site
    from consentcam.samples import sample_photo

    settings = load_settings(data_dir=data_dir, database_url=database_url, dev=True)
    ledger = open_ledger(settings, actor="bench", create=True)
    add_site(ledger, SITE, "eu")
    evidence.write_text("benchmark: consent recorded by bench_soak.py for its own test store\n")
    name, photo = MEMBER
    member = add_member(ledger, SITE, name)
    record_consent(ledger, member.id, purpose=RECOGNITION, evidence=evidence)
    enroll(ledger, member.id, [sample_photo(photo)])
    # A short cooldown so that a long soak keeps writing alerts (the default, 15 minutes, would
    # write one per member for the whole run).
    config = {"cooldown_s": cooldown_s}
    ids = {
        camera: add_camera(ledger, SITE, camera, url, "door", True, config).id
        for camera, url in sources.items()
    }
    ledger.store.engine.dispose()
    return Store(data_dir, database_url, ids)


@dataclass(frozen=True, slots=True)
class Alerts:
    per_camera: dict[str, int]
    first_at: dt.datetime | None


def alerts_written(store: Store) -> Alerts:
    """Member alerts in the store, per camera name, and when the first was written."""
    from sqlalchemy import func, select

    from consentcam.config import load_settings
    from consentcam.consent.context import open_ledger
    from consentcam.store.models import Event

    settings = load_settings(data_dir=store.data_dir, database_url=store.database_url, dev=True)
    ledger = open_ledger(settings, actor="bench")
    names = {cid: name for name, cid in store.camera_ids.items()}
    try:
        with ledger.store.transaction() as s:
            rows = s.execute(
                select(Event.camera_id, func.count(), func.min(Event.at))
                .where(Event.kind.in_(ALERT_KINDS), Event.member_id.is_not(None))
                .group_by(Event.camera_id)
            ).all()
    finally:
        ledger.store.engine.dispose()
    counts = dict.fromkeys(store.camera_ids, 0)
    for camera_id, n, _ in rows:
        counts[names.get(str(camera_id), str(camera_id))] = int(n)
    # min() in SQL bypasses the column type: SQLite returns its naive UTC text.
    firsts = [_utc(at) for _, _, at in rows if at is not None]
    return Alerts(counts, min(firsts, default=None))


def _utc(value: dt.datetime | str) -> dt.datetime:
    at = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


# -- processes, memory and sockets (Linux /proc) -------------------------------------------------


def descendants(root: int) -> list[int]:
    """Every process under ``root`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        ppid = int(stat.rpartition(")")[2].split()[1])  # the name in (...) may hold spaces
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return sorted(found)


def rss_kib(pid: int) -> int | None:
    """Resident memory of ``pid`` in KiB (VmRSS), None once it has ended."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def tcp_sockets() -> dict[int, tuple[int, int]]:
    """TCP sockets by inode: (remote port, bytes received and not yet read by the process)."""
    sockets: dict[int, tuple[int, int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            rx_queue = int(fields[4].split(":")[1], 16)
            sockets[int(fields[9])] = (remote_port, rx_queue)
    return sockets


def process_label(pid: int, camera_by_port: Mapping[int, str], sockets: Mapping[int, Any]) -> str:
    """Which camera a process reads (by the port of the simulated camera it is connected to),
    or what else it is."""
    for inode in socket_inodes(pid):
        if inode in sockets and sockets[inode][0] in camera_by_port:
            return camera_by_port[sockets[inode][0]]
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        cmdline = ""
    return "resource_tracker" if "resource_tracker" in cmdline else f"pid-{pid}"


# -- sampling ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Samples:
    rss: dict[int, list[tuple[float, int]]] = field(default_factory=dict)  # pid -> (s, KiB)
    labels: dict[int, str] = field(default_factory=dict)  # pid -> camera or role, once known
    backlog: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # camera -> (s, B)
    queue_depth_max: dict[str, float] = field(default_factory=dict)
    metrics_at_warmup: dict[str, dict[str, Any]] | None = None
    warmup_at: float | None = None
    all_cameras_up_s: float | None = None
    load1: list[float] = field(default_factory=list)


def sample(
    samples: Samples,
    at: float,
    supervisor: int,
    camera_by_port: Mapping[int, str],
    metrics: Mapping[str, dict[str, Any]],
) -> None:
    sockets = tcp_sockets()
    pids = [supervisor, *descendants(supervisor)]
    for pid in pids:
        if pid not in samples.labels or samples.labels[pid].startswith("pid-"):
            label = (
                "supervisor" if pid == supervisor else process_label(pid, camera_by_port, sockets)
            )
            samples.labels[pid] = label
        kib = rss_kib(pid)
        if kib is None:
            continue
        samples.rss.setdefault(pid, []).append((at, kib))
        for inode in socket_inodes(pid):
            port, backlog = sockets.get(inode, (0, 0))
            camera = camera_by_port.get(port)
            if camera is not None:
                samples.backlog.setdefault(camera, []).append((at, backlog))
    for camera, figures in metrics.items():
        depth = float(figures.get("queue_depth", 0.0))
        samples.queue_depth_max[camera] = max(samples.queue_depth_max.get(camera, 0.0), depth)
    samples.load1.append(os.getloadavg()[0])


def scraped_metrics(port: int) -> dict[str, dict[str, Any]]:
    """The supervisor's figures per camera (empty while its endpoint is not up yet)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return {}
    cameras: dict[str, dict[str, Any]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            camera = s.labels.get("camera")
            if camera is None:
                continue
            figures = cameras.setdefault(camera, {})
            if "stage" in s.labels:
                figures.setdefault("stage_ms", {})[s.labels["stage"]] = s.value
            elif s.name in METRIC_NAMES:
                figures[METRIC_NAMES[s.name]] = s.value
    return cameras


# -- the run -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Run:
    samples: Samples
    metrics: dict[str, dict[str, Any]]  # the last figures scraped, per camera
    served: dict[str, SimStats]  # each camera's counters when they were scraped
    started_at: dt.datetime
    seconds: float
    exit_code: int | None  # None: it did not stop when asked and was killed


def soak(
    store: Store,
    cameras: Mapping[str, SimulatedCamera],
    seconds: float,
    warmup_s: float,
    sample_s: float,
    log: Path,
) -> Run:
    """Run ``consentcam run`` for ``seconds``, sampling every ``sample_s``."""
    camera_by_port = {cam.port: name for name, cam in cameras.items()}
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "consentcam",
        "run",
        "--site",
        SITE,
        "--metrics-port",
        str(port),
    ]
    samples = Samples()
    metrics: dict[str, dict[str, Any]] = {}
    with log.open("wb") as out:
        started, started_at = time.monotonic(), dt.datetime.now(dt.UTC)
        proc = subprocess.Popen(command, env=store.env(), stdout=out, stderr=subprocess.STDOUT)
        try:
            next_sample = started
            while (elapsed := time.monotonic() - started) < seconds and proc.poll() is None:
                if time.monotonic() >= next_sample:
                    metrics = scraped_metrics(port) or metrics
                    sample(samples, elapsed, proc.pid, camera_by_port, metrics)
                    if samples.all_cameras_up_s is None and set(cameras) <= {
                        c for c, m in metrics.items() if m.get("frames_processed", 0) > 0
                    }:
                        samples.all_cameras_up_s = round(elapsed, 1)
                    if samples.warmup_at is None and elapsed >= warmup_s:
                        samples.warmup_at, samples.metrics_at_warmup = elapsed, metrics
                    next_sample += sample_s
                    if int(elapsed) // 30 != int(elapsed + sample_s) // 30:
                        print(_progress(elapsed, metrics), file=sys.stderr, flush=True)
                time.sleep(max(0.0, min(next_sample, started + seconds) - time.monotonic()))
            elapsed = time.monotonic() - started
            metrics = scraped_metrics(port) or metrics  # the last figures, before the stop
            served = {name: cam.stats() for name, cam in cameras.items()}
            sample(samples, elapsed, proc.pid, camera_by_port, metrics)
        finally:
            code = _stopped(proc)
    return Run(samples, metrics, served, started_at, elapsed, code)


def _stopped(proc: subprocess.Popen[bytes]) -> int | None:
    """Stop ``consentcam run`` as Ctrl-C does; its exit code (None if it had to be killed)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def _progress(elapsed: float, metrics: Mapping[str, Mapping[str, Any]]) -> str:
    frames = sum(m.get("frames_processed", 0) for m in metrics.values())
    dropped = sum(m.get("frames_dropped", 0) for m in metrics.values())
    return f"soak: {elapsed:.0f} s, {frames:.0f} frames processed, {dropped:.0f} dropped"


# -- the report ----------------------------------------------------------------------------------


def rss_by_process(samples: Samples, since: float) -> dict[str, dict[str, Any]]:
    """``rss_report`` of each process, by camera or role; a camera whose worker was restarted
    gets one entry per process, the later ones labelled ``camera#2``, ..."""
    reports: dict[str, dict[str, Any]] = {}
    for pid, points in sorted(samples.rss.items(), key=lambda item: item[1][0][0]):
        label = samples.labels.get(pid, f"pid-{pid}")
        n = 1
        while (key := label if n == 1 else f"{label}#{n}") in reports:
            n += 1
        reports[key] = {"pid": pid, **rss_report(points, since)}
    return dict(sorted(reports.items()))


def rss_report(points: Sequence[tuple[float, int]], since: float) -> dict[str, Any]:
    """Start (first point at or after ``since``), end, peak, growth and slope, in MiB."""
    window = [(t, kib) for t, kib in points if t >= since] or list(points[-1:])
    start, end = window[0][1], window[-1][1]
    return {
        "start_mib": _mib(start),
        "end_mib": _mib(end),
        "peak_mib": _mib(max(kib for _, kib in points)),
        "growth_mib": _mib(end - start),
        "slope_mib_per_min": round(slope(window) * 60 / 1024, 3),
    }


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over t (0 for fewer than two distinct times)."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / var


def camera_report(
    camera: str,
    run: Run,
    at_warmup: Mapping[str, Any],
    window: tuple[float, float],
    frame_bytes: float,
    alerts: int,
) -> dict[str, Any]:
    """One camera's figures. ``frames_in_flight``: frames its simulated camera had sent when the
    figures were scraped that were neither processed nor counted as dropped (in the socket, the
    decoder or the one-frame buffer, or since the worker's last report, sent once a second); a
    worker falling behind with a backlog would show here. Socket backlogs are given in frames
    of the clip's mean JPEG size."""
    figures = run.metrics.get(camera, {})
    served = run.served[camera]
    processed = int(figures.get("frames_processed", 0))
    dropped = int(figures.get("frames_dropped", 0))
    before = int(at_warmup.get("frames_processed", 0))
    # A restarted worker counts from zero again: then its whole count is in the window.
    in_window = processed - before if processed >= before else processed
    since, until = window
    backlog = run.samples.backlog.get(camera, [])
    warming = [b for t, b in backlog if t < since]
    measured = [b for t, b in backlog if t >= since]
    return {
        "frames_served": served.frames_sent,
        "frames_skipped_by_camera": served.frames_skipped,
        "connections": served.connections,
        "frames_processed": processed,
        "frames_dropped": dropped,
        "frames_in_flight": served.frames_sent - processed - dropped,
        "drop_fraction": _fraction(dropped, processed + dropped),
        "fps_processed": round(in_window / (until - since), 2) if until > since else None,
        "restarts": int(figures.get("restarts", 0)),
        "reconnects": int(figures.get("reconnects", 0)),
        "alerts": alerts,
        "max_queue_depth": int(run.samples.queue_depth_max.get(camera, 0)),
        "socket_backlog_frames": {
            "max_warmup": round(max(warming, default=0) / frame_bytes, 1),
            "max": round(max(measured, default=0) / frame_bytes, 1),
            "end": round((backlog[-1][1] if backlog else 0) / frame_bytes, 1),
        },
        "stage_ms": {k: round(v, 2) for k, v in figures.get("stage_ms", {}).items()},
    }


def _mib(kib: float) -> float:
    return round(kib / 1024, 1)


def _fraction(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# -- main ----------------------------------------------------------------------------------------


def _size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or not int(width) or not int(height):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 640x480, not {text!r}")
    return int(width), int(height)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=8, help="simulated cameras (default 8)")
    parser.add_argument("--seconds", type=float, default=600.0, help="run time (default 600)")
    parser.add_argument(
        "--warmup-s",
        type=float,
        default=30.0,
        help="RSS start and the fps window begin this many seconds in (default 30)",
    )
    parser.add_argument("--sample-s", type=float, default=5.0, help="sampling period (default 5)")
    parser.add_argument("--fps", type=float, default=15.0, help="camera frame rate (default 15)")
    parser.add_argument(
        "--size", type=_size, default=(640, 480), help="frame size WxH (default 640x480)"
    )
    parser.add_argument(
        "--cooldown-s",
        type=float,
        default=60.0,
        help="alert cooldown per member and site, in s (default 60, so alerts keep coming)",
    )
    parser.add_argument(
        "--db-url",
        help="PostgreSQL server URL: the store is a throwaway database created on it "
        "(default: SQLite in a temporary data dir)",
    )
    parser.add_argument(
        "--log", type=Path, help="keep consentcam run's output in this file (default: discarded)"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON document")
    args = parser.parse_args(argv)
    if args.cameras < 1:
        parser.error("--cameras: expected at least 1")
    if not 0 < args.warmup_s < args.seconds:
        parser.error("--warmup-s: expected 0 < warm-up < --seconds")
    if args.sample_s <= 0 or args.fps <= 0:
        parser.error("--sample-s and --fps must be above 0")

    with tempfile.TemporaryDirectory(prefix="consentcam-soak-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        clip = door_clip(work / "door.mp4", size=args.size, fps=args.fps)
        jpegs = clip_jpegs(work / "door.mp4")
        names = [f"cam-{i + 1}" for i in range(args.cameras)]
        cameras = {
            name: stack.enter_context(
                SimulatedCamera(looped(jpegs, i * len(jpegs) // args.cameras), args.fps).running()
            )
            for i, name in enumerate(names)
        }
        database_url = (
            stack.enter_context(scratch_database(args.db_url, "consentcam_soak"))
            if args.db_url
            else None  # SQLite in the work folder
        )
        store = make_store(
            work / "store",
            database_url,
            {name: cam.url for name, cam in cameras.items()},
            args.cooldown_s,
            work / "consent-evidence.txt",
        )
        log = args.log or work / "run.log"
        load_start = os.getloadavg()
        run = soak(store, cameras, args.seconds, args.warmup_s, args.sample_s, log)
        load_end = os.getloadavg()
        text = log.read_text(errors="replace")
        if run.exit_code not in (0, None) or not run.metrics:
            print(text[-4000:], file=sys.stderr)
            raise SystemExit(
                f"consentcam run exited with {run.exit_code} after {run.seconds:.0f} s"
            )
        alerts = alerts_written(store)

    samples = run.samples
    since = samples.warmup_at if samples.warmup_at is not None else run.seconds
    at_warmup = samples.metrics_at_warmup or {}
    frame_bytes = sum(map(len, jpegs)) / len(jpegs)
    per_camera = {
        name: camera_report(
            name,
            run,
            at_warmup.get(name, {}),
            (since, run.seconds),
            frame_bytes,
            alerts.per_camera.get(name, 0),
        )
        for name in names
    }
    rss = rss_by_process(samples, since)
    processed = sum(c["frames_processed"] for c in per_camera.values())
    dropped = sum(c["frames_dropped"] for c in per_camera.values())
    first_alert = alerts.first_at
    report: dict[str, Any] = {
        "benchmark": "soak",
        "seconds": round(run.seconds, 1),
        "warmup_s": round(since, 1),
        "window_s": round(run.seconds - since, 1),
        "cameras": args.cameras,
        "camera_fps": args.fps,
        "size": list(args.size),
        "clip_frames": clip.frames,
        "jpeg_kib": round(frame_bytes / 1024, 1),
        "cores": len(os.sched_getaffinity(0)),
        "store": "postgresql" if args.db_url else "sqlite",
        "all_cameras_up_s": samples.all_cameras_up_s,
        "first_alert_s": (
            round((first_alert - run.started_at).total_seconds(), 1) if first_alert else None
        ),
        "per_camera": per_camera,
        "totals": {
            **{
                key: sum(c[key] for c in per_camera.values())
                for key in (
                    "frames_served",
                    "frames_skipped_by_camera",
                    "frames_processed",
                    "frames_dropped",
                    "frames_in_flight",
                    "restarts",
                    "reconnects",
                    "alerts",
                )
            },
            "drop_fraction": _fraction(dropped, processed + dropped),
            "fps_processed": round(sum(c["fps_processed"] or 0 for c in per_camera.values()), 2),
            "rss_start_mib": round(sum(r["start_mib"] for r in rss.values()), 1),
            "rss_end_mib": round(sum(r["end_mib"] for r in rss.values()), 1),
            "rss_growth_mib": round(sum(r["growth_mib"] for r in rss.values()), 1),
        },
        "rss": rss,
        "load_average": {
            "start": [round(v, 2) for v in load_start],
            "end": [round(v, 2) for v in load_end],
            "mean_1min_sampled": round(sum(samples.load1) / max(len(samples.load1), 1), 2),
        },
        "run_exit_code": run.exit_code,
        "tracebacks_in_log": text.count("Traceback"),
    }
    if not args.json:
        print(_summary(report), file=sys.stderr)
    print(json.dumps(report))
    return 0


def _summary(report: Mapping[str, Any]) -> str:
    t = report["totals"]
    return (
        f"{report['cameras']} cameras for {report['seconds']} s: {t['fps_processed']} fps "
        f"processed in all, {t['frames_dropped']} frames dropped ({t['drop_fraction']}), "
        f"{t['restarts']} restarts, {t['alerts']} alerts; RSS {t['rss_start_mib']} -> "
        f"{t['rss_end_mib']} MiB; load {report['load_average']['end'][0]}"
    )


if __name__ == "__main__":
    sys.exit(main())
