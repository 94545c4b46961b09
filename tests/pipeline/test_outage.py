"""The store goes away mid-stream: recognition carries on from the in-memory gallery, the alert
waits in a bounded on-disk spool that holds no face data, and is written exactly once (with its
outbox and audit entries) when the store is back; footfall is kept in memory meanwhile."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from consentcam.consent.ledger import Ledger
from consentcam.pipeline.clips import ClipTruth
from consentcam.pipeline.sources import open_source
from consentcam.pipeline.spool import AlertSpool, PendingAlert
from consentcam.pipeline.worker import CameraWorker, camera_context, run_camera
from consentcam.store.db import Store
from consentcam.store.models import AuditEntry, Event, FootfallBucket, Member, OutboxEntry


@dataclass
class FlakyStore:
    """The real store, except that every transaction fails while ``down`` is set, as when
    the database server is unreachable."""

    real: Store
    down: bool = False

    @property
    def engine(self) -> Any:
        return self.real.engine

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        if self.down:
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
    import pytest
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
        assert len(worker._spool) == 1 and worker.events == []
    finally:
        event.remove(engine, "connect", no_room)
        engine.dispose()
    worker.finish()
    with site_ledger.store.transaction() as s:
        assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        events = [e.member_id for e in s.execute(select(Event)).scalars()]
    assert events == [obama] and len(worker._spool) == 0
