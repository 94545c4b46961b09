"""The store goes away mid-stream: recognition carries on from the in-memory gallery, the alert
waits in a bounded on-disk spool that holds no face data, and is written exactly once (with its
outbox and audit entries) when the store is back; footfall is kept in memory meanwhile."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from consentcam.consent.context import Ledger
from consentcam.match.gallery import Identification
from consentcam.pipeline.camera import camera_context
from consentcam.pipeline.clips import ClipTruth
from consentcam.pipeline.decisions import LiveTrack
from consentcam.pipeline.sources import open_source
from consentcam.pipeline.spool import AlertSpool, PendingAlert
from consentcam.pipeline.worker import CameraWorker, run_camera
from consentcam.store.db import Store
from consentcam.store.models import (
    AuditEntry,
    Event,
    FootfallBucket,
    Member,
    OutboxEntry,
    new_id,
)


@dataclass
class FlakyStore:
    """The real store, except that every transaction fails while ``down`` is set, as when
    the database server is unreachable."""

    real: Store
    down: bool = False
    failed_in: list[str] = field(default_factory=list)  # the thread of each failed transaction

    @property
    def engine(self) -> Any:
        return self.real.engine

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        if self.down:
            self.failed_in.append(threading.current_thread().name)
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("store down"))
        with self.real.transaction() as s:
            yield s


def test_an_outage_delays_the_alert_but_loses_nothing(
    site_ledger: Ledger,
    enrol: Callable[[str, str], str],
    camera: Callable[[str, Path, str], str],
    two_people_clip: tuple[Path, ClipTruth],
) -> None:
    obama = enrol("Barack", "obama.jpg")
    camera("door-1", two_people_clip[0], "door")
    flaky = FlakyStore(site_ledger.store)
    ledger = replace(site_ledger, store=flaky)  # type: ignore[arg-type]
    ctx = camera_context(ledger, "door-1")
    worker = CameraWorker(ledger, ctx, keep_reports=True)
    spool_file = site_ledger.settings.data_dir / "spool" / f"{ctx.camera_id}.jsonl"
    seen_in_spool: list[dict[str, Any]] = []
    modes: list[int] = []

    def on_frame(n: int) -> None:
        if n == 1:
            flaky.down = True  # after the gallery was loaded: it keeps matching from memory
        if flaky.down and spool_file.exists():
            modes.append(spool_file.stat().st_mode & 0o777)
            seen_in_spool.extend(json.loads(line) for line in spool_file.read_text().splitlines())
            flaky.down = False  # the store comes back once the alert is spooled

    run_camera(worker, open_source(ctx.source, ctx.camera), on_frame=on_frame)

    assert seen_in_spool, "the alert was decided while the store was down"
    spooled = seen_in_spool[0]
    assert set(spooled) == {
        "event_id", "member_id", "kind", "claim_id", "at", "distance", "threshold", "frames"
    }  # fmt: skip
    assert modes == [0o600]  # readable by the worker's user only
    assert not spool_file.exists(), "emptied once written"
    with site_ledger.store.transaction() as s:
        events = list(s.execute(select(Event)).scalars())
        outbox = list(s.execute(select(OutboxEntry)).scalars())
        audit = [a.action for a in s.execute(select(AuditEntry)).scalars()]
        buckets = list(s.execute(select(FootfallBucket)).scalars())
    assert [(e.id, e.member_id) for e in events] == [(spooled["event_id"], obama)]
    assert len(outbox) == 1 and audit.count("recognition.alert") == 1
    assert any(r.member_id == obama for r in worker.reports)
    assert sum(b.visits for b in buckets) >= 2


def test_the_spool_is_bounded_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "spool" / "cam.jsonl"
    spool = AlertSpool(path, max_entries=2)
    at = dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)
    alerts = [PendingAlert(f"e{i}", "m1", "recognition", None, at, 0.3, 0.37, 5) for i in range(3)]
    for alert in alerts:
        spool.put(alert)
    assert [a.event_id for a in spool.pending()] == ["e1", "e2"] and spool.dropped == 1
    assert path.stat().st_mode & 0o777 == 0o600
    again = AlertSpool(path)
    again.load()
    assert again.pending() == alerts[1:]
    again.done("e1")
    again.done("e2")
    assert not path.exists()


def test_a_full_disk_under_the_store_is_ridden_out(
    site_ledger: Ledger,
    enrol: Callable[[str, str], str],
    camera: Callable[[str, Path, str], str],
    two_people_clip: tuple[Path, ClipTruth],
) -> None:
    """SQLite's "database or disk is full": the worker stays up with the alert spooled, the
    database is not corrupted, and the alert is written once space is back."""
    from sqlalchemy import event, text

    engine = site_ledger.store.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("a full disk is simulated with SQLite's page limit")
    obama = enrol("Barack", "obama.jpg")
    camera("door-1", two_people_clip[0], "door")
    with site_ledger.store.transaction() as s:  # an alert this size cannot fit in page slack
        s.execute(update(Member).values(profile={"notes": "x" * 50_000}))
    ctx = camera_context(site_ledger, "door-1")
    worker = CameraWorker(site_ledger, ctx, keep_reports=True)
    assert worker.gallery is not None
    worker.gallery.refresh()

    with engine.connect() as conn:  # no free pages left to reuse: any growth needs new ones
        conn.exec_driver_sql("VACUUM")

    def no_room(dbapi_connection: Any, _record: Any) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(engine, "connect", no_room)
    engine.dispose()
    try:
        for frame in open_source(ctx.source, ctx.camera).frames():
            worker.process(frame)
        assert len(worker.alerts.spool) == 1 and worker.events == []
    finally:
        event.remove(engine, "connect", no_room)
        engine.dispose()
    worker.finish()
    with site_ledger.store.transaction() as s:
        assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        events = [e.member_id for e in s.execute(select(Event)).scalars()]
    assert events == [obama] and len(worker.alerts.spool) == 0


def wait_for(what: str, condition: Callable[[], object], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(0.02)


def test_the_frame_loop_leaves_an_unavailable_store_alone(
    site_ledger: Ledger,
    enrol: Callable[[str, str], str],
    camera: Callable[[str, Path, str], str],
    two_people_clip: tuple[Path, ClipTruth],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After one failed call the frame loop stops calling the store (a silent server makes each
    call wait out the connect timeout): the alert goes to the spool and footfall stays in memory
    without trying, while a background thread tries the store once a second, writes the spool
    when it answers and hands the alert's document to the frame loop. One warning when the
    store goes, one line when it is back."""
    obama = enrol("Barack", "obama.jpg")
    camera("door-1", two_people_clip[0], "door")
    flaky = FlakyStore(site_ledger.store)
    settings = site_ledger.settings
    pipeline = settings.pipeline.model_copy(update={"footfall_flush_s": 0.001})  # every frame
    ledger = Ledger(
        flaky,  # type: ignore[arg-type]
        site_ledger.keys,
        site_ledger.actor,
        settings.model_copy(update={"pipeline": pipeline}),
    )
    ctx = camera_context(ledger, "door-1")
    worker = CameraWorker(ledger, ctx)
    worker.load()
    caplog.set_level(logging.INFO, logger="consentcam.pipeline.worker")

    flaky.down = True
    for frame in open_source(ctx.source, ctx.camera).frames():
        assert worker.process(frame) == []
    frame_loop = threading.current_thread().name
    assert flaky.failed_in.count(frame_loop) == 1, "one failed call, then the store left alone"
    assert len(worker.alerts.spool) == 1, "the member's alert spooled"

    flaky.down = False
    wait_for(
        "the spool written with no frame to drive it", lambda: not worker.alerts.spool.path.exists()
    )
    with site_ledger.store.transaction() as s:
        (event,) = s.execute(select(Event)).scalars()
    assert event.member_id == obama
    frame = next(iter(open_source(ctx.source, ctx.camera).frames()))
    assert [d["id"] for d in worker.process(frame)] == [event.id], "passed on by the frame loop"
    worker.finish()
    with site_ledger.store.transaction() as s:
        assert sum(b.visits for b in s.execute(select(FootfallBucket)).scalars()) >= 2

    lines = [r.getMessage() for r in caplog.records if r.name == "consentcam.pipeline.worker"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("camera door-1: store unavailable (OperationalError); ")
    assert re.fullmatch(r"camera door-1: store back after \d+\.\d s", lines[1])


def test_alerts_are_written_in_the_order_they_were_raised(
    site_ledger: Ledger,
    enrol: Callable[[str, str], str],
    camera: Callable[[str, Path, str], str],
    two_people_clip: tuple[Path, ClipTruth],
) -> None:
    """Once an alert is spooled, later ones queue behind it until the spool is written, even if
    the store is back meanwhile: written first, a later alert would make the spooled one look
    like a duplicate of it, and the outbox would not follow the order of the alerts."""
    obama = enrol("Barack", "obama.jpg")
    camera("door-1", two_people_clip[0], "door")
    flaky = FlakyStore(site_ledger.store)
    ledger = replace(site_ledger, store=flaky)  # type: ignore[arg-type]
    worker = CameraWorker(ledger, camera_context(ledger, "door-1"))
    match = Identification(obama, 0.3, 0.6, 1)
    cooldown = dt.timedelta(seconds=worker.p.cooldown_s)
    first = dt.datetime.now(dt.UTC) - 3 * cooldown
    flaky.down = True
    assert worker._alert(LiveTrack(1), match, None, first) is None  # spooled
    flaky.down = False  # back, though the worker has not tried it yet
    later = first + cooldown + dt.timedelta(seconds=1)  # a new visit
    assert worker._alert(LiveTrack(2), match, None, later) is None, "queued behind the spool"
    worker.finish()
    with site_ledger.store.transaction() as s:
        events = list(
            s.execute(
                select(Event)
                .join(OutboxEntry, OutboxEntry.event_id == Event.id)
                .order_by(OutboxEntry.seq)
            ).scalars()
        )
    assert len(events) == 2 and events[0].at < events[1].at


def test_an_alert_is_a_duplicate_only_of_alerts_within_the_cooldown_of_it(
    site_ledger: Ledger,
    enrol: Callable[[str, str], str],
    camera: Callable[[str, Path, str], str],
    two_people_clip: tuple[Path, ClipTruth],
) -> None:
    """The check across a site's workers: an alert written late (from a spool, after an
    outage) is dropped as a duplicate of another worker's alert within the cooldown before or
    after it (the same visit), not of every alert since."""
    obama = enrol("Barack", "obama.jpg")
    camera("door-1", two_people_clip[0], "door")
    worker = CameraWorker(site_ledger, camera_context(site_ledger, "door-1"))
    cooldown = dt.timedelta(seconds=worker.p.cooldown_s)
    start = dt.datetime.now(dt.UTC) - 3 * cooldown

    def alert(at: dt.datetime) -> PendingAlert:
        return PendingAlert(new_id(), obama, "recognition", None, at, 0.3, 0.6, 5)

    live = alert(start + cooldown + dt.timedelta(seconds=1))  # written as the store came back
    assert worker.alerts.write(live) is not None
    assert worker.alerts.write(alert(start)) is not None, "spooled, from an earlier visit"
    assert worker.alerts.write(alert(start + cooldown / 2)) is None, "the same visit as both"


def test_a_bug_met_by_the_retry_thread_stops_the_worker(
    site_ledger: Ledger,
    enrol: Callable[[str, str], str],
    camera: Callable[[str, Path, str], str],
    two_people_clip: tuple[Path, ClipTruth],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error that is not the store away, met while writing the spool, is raised from the frame
    loop (as it was when the frame loop wrote the spool itself), not lost with the thread while
    every later alert queues behind the spool."""
    obama = enrol("Barack", "obama.jpg")
    camera("door-1", two_people_clip[0], "door")
    flaky = FlakyStore(site_ledger.store)
    ledger = replace(site_ledger, store=flaky)  # type: ignore[arg-type]
    ctx = camera_context(ledger, "door-1")
    worker = CameraWorker(ledger, ctx)
    flaky.down = True
    match = Identification(obama, 0.3, 0.6, 1)
    assert worker._alert(LiveTrack(1), match, None, dt.datetime.now(dt.UTC)) is None

    def broken(alert: PendingAlert) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(worker.alerts, "write", broken)
    flaky.down = False
    wait_for("the retry thread met the bug", lambda: worker.alerts._retry_error is not None)
    frame = next(iter(open_source(ctx.source, ctx.camera).frames()))
    with pytest.raises(RuntimeError, match="a bug"):
        worker.process(frame)
