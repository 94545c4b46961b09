"""A real outage of a real PostgreSQL server, seen from the client as in production.

Every client (the camera worker, its gallery watcher, the API, the CLI) reaches the test server
through a loopback TCP proxy (``db_proxy``), whose ``cut()`` resets every open connection and
refuses new ones (a stopped or restarting server) or leaves them unanswered (a host gone silent).
``tests/pipeline/test_outage.py`` covers the worker's side of the same story with a store whose
transactions fail on demand; here the drivers, the connection pool and the LISTEN connection
meet the real thing, for 30 s of wall time.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from consentcam.api.app import UNAVAILABLE, create_app
from consentcam.api.security import current_principal
from consentcam.audit import chain
from consentcam.auth.roles import Principal
from consentcam.config import Settings, load_settings
from consentcam.consent.context import Ledger, open_ledger
from consentcam.consent.rights import withdraw
from consentcam.errors import StoreUnavailable
from consentcam.pipeline.camera import camera_context
from consentcam.pipeline.clips import ClipTruth
from consentcam.pipeline.sources import FileSource, Frame, SourceStats
from consentcam.pipeline.worker import CameraWorker, run_camera
from consentcam.store.db import CONNECT_TIMEOUT_S, Store, open_store, store_unavailable
from consentcam.store.models import AuditEntry, Event, FootfallBucket, OutboxEntry
from tests.pipeline.db_proxy import DbProxy, db_proxy, proxied_url
from tests.pipeline.support import TEST_PIPELINE
from tests.support.clients import TestClient

T = TypeVar("T")

POSTGRES_ONLY = pytest.mark.parametrize("store_settings", ["postgresql"], indirect=True)
OUTAGE_S = 30.0
# Each of the two cuts compared in the silent-server test.
SILENT_OUTAGE_S = 12.0
# Generous bounds for a loaded 2-core CI machine: each is a deadline for a condition that is
# polled, never a sleep.
SETTLE_S = 60.0
# An API request must be answered within this, connection attempt included.
ANSWER_S = 15.0
# Short enough that each pass of the looped clip is a new visit with its own alert, and that
# footfall is due for writing several times during the outage.
OUTAGE_PIPELINE = {**TEST_PIPELINE, "cooldown_s": 1.0, "footfall_flush_s": 2.0}


@pytest.fixture
def proxy(store_settings: Settings) -> Iterator[DbProxy]:
    assert store_settings.database_url is not None
    with db_proxy(store_settings.database_url) as running:
        yield running


@pytest.fixture
def pipeline_settings(store_settings: Settings, proxy: DbProxy) -> Settings:
    """The pipeline tests' settings (tests/pipeline/conftest.py), reaching the server through
    the proxy."""
    assert store_settings.database_url is not None
    return store_settings.model_copy(
        update={
            "database_url": proxied_url(store_settings.database_url, proxy.port),
            "pipeline": store_settings.pipeline.model_copy(update=OUTAGE_PIPELINE),
        }
    )


@pytest.fixture
def direct(store_settings: Settings) -> Iterator[Store]:
    """The same database, not through the proxy: what it holds, whatever the clients see."""
    store = open_store(store_settings)
    try:
        yield store
    finally:
        store.engine.dispose()


class LoopedClip:
    """A clip played over and over at its frame rate, as a camera watching a door where the
    same people keep passing: a source that runs until closed."""

    live = False  # every frame is delivered (no drops), so each pass is recognised alike

    def __init__(self, camera: str, path: Path) -> None:
        self.camera = camera
        self.path = path
        self.fps: float | None = FileSource(camera, path).fps or 30.0
        self.passes = 0
        self._read = 0
        self._closed = threading.Event()

    def frames(self) -> Iterator[Frame]:
        assert self.fps is not None
        started = time.monotonic()
        while not self._closed.is_set():
            self.passes += 1
            for frame in FileSource(self.camera, self.path).frames():
                # Paced like a camera; a worker slower than real time just runs late.
                due = started + self._read / self.fps
                if self._closed.wait(max(0.0, due - time.monotonic())):
                    return
                index, self._read = self._read, self._read + 1
                yield Frame(index, index / self.fps, dt.datetime.now(dt.UTC), frame.image)

    def stats(self) -> SourceStats:
        return SourceStats(self._read, 0, 0, 0)

    def close(self) -> None:
        self._closed.set()


@dataclass
class RunningWorker:
    worker: CameraWorker
    source: LoopedClip
    errors: list[BaseException]


@contextmanager
def running_worker(ledger: Ledger, camera: str, clip: Path) -> Iterator[RunningWorker]:
    """A door camera's worker on a looped clip, in a thread, until the block exits."""
    ctx = camera_context(ledger, camera)
    worker = CameraWorker(ledger, ctx, keep_reports=True)
    source = LoopedClip(ctx.camera, clip)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_camera(worker, source, stop=stop)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="door-worker", daemon=True)
    thread.start()
    try:
        yield RunningWorker(worker, source, errors)
    finally:
        stop.set()
        source.close()
        thread.join(SETTLE_S)
        assert not thread.is_alive(), "the worker did not stop"


def wait_for(what: str, condition: Callable[[], T], timeout_s: float = SETTLE_S) -> T:
    """``condition()``'s first truthy value, polled until ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(0.05)


def spooled_ids(spool_file: Path) -> list[str]:
    try:
        lines = spool_file.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line)["event_id"] for line in lines if line.strip()]


def event_ids(store: Store) -> set[str]:
    with store.transaction() as s:
        return set(s.execute(select(Event.id)).scalars())


def footfall_visits(store: Store) -> int:
    with store.transaction() as s:
        return int(
            s.execute(select(func.coalesce(func.sum(FootfallBucket.visits), 0))).scalar_one()
        )


def ok_or_none(response: httpx.Response) -> httpx.Response | None:
    return response if response.status_code == 200 else None


@dataclass
class StaffApi:
    """The API over the proxied store, called as a staff member of the site's tenant."""

    client: TestClient
    principal: Principal

    def get(self, path: str) -> tuple[httpx.Response, float]:
        """The response and how long it took."""
        started = time.monotonic()
        response = self.client.get(path)
        return response, time.monotonic() - started


@contextmanager
def staff_api(settings: Settings, ledger: Ledger) -> Iterator[StaffApi]:
    app = create_app(settings)
    with ledger.store.transaction() as s:
        tenant_id = ledger.tenant_id(s)
    principal = Principal("u-staff", "staff", ledger.tenant, tenant_id, "staff", None, "token")
    app.dependency_overrides[current_principal] = lambda: principal
    with TestClient(app) as client:
        yield StaffApi(client, principal)
    app.state.store.engine.dispose()


EVENTS = "/api/v1/events?site=shop"


@POSTGRES_ONLY
@pytest.mark.slow
def test_a_30_second_database_outage(
    site_ledger: Ledger,
    pipeline_settings: Settings,
    enrol: Callable[[str, str], str],
    camera: Callable[[str, Path, str], str],
    two_people_clip: tuple[Path, ClipTruth],
    proxy: DbProxy,
    direct: Store,
) -> None:
    """The server goes away for 30 s while a door camera runs: the member is recognised all the
    while from the in-memory gallery, each alert waits in the spool and footfall in memory; the
    API answers 503. Once the server is back the alerts are written exactly once, the API
    answers again, and the gallery watcher is live again (a withdrawal is applied)."""
    obama = enrol("Barack", "obama.jpg")
    camera("door-1", two_people_clip[0], "door")
    figures: dict[str, Any] = {}
    with (
        staff_api(pipeline_settings, site_ledger) as api,
        running_worker(site_ledger, "door-1", two_people_clip[0]) as running,
    ):
        worker, gallery = running.worker, running.worker.gallery
        assert gallery is not None
        spool_file = worker.alerts.spool.path
        assert api.get(EVENTS)[0].status_code == 200  # the API's pool holds a live connection
        before = wait_for("a first alert written through the proxy", lambda: event_ids(direct))
        visits_before = footfall_visits(direct)

        # -- the outage --------------------------------------------------------------------
        proxy.cut()
        cut_at = time.monotonic()
        frames_at_cut, reports_at_cut = worker.frames, len(worker.reports)
        seen: dict[str, float] = {}  # spooled event id -> seconds into the outage
        answers: list[tuple[int, dict[str, Any], float]] = []
        while (elapsed := time.monotonic() - cut_at) < OUTAGE_S:
            assert not running.errors, running.errors
            for event_id in spooled_ids(spool_file):
                seen.setdefault(event_id, round(elapsed, 1))
            if len(answers) < 3 and elapsed >= 5 * len(answers):
                response, took = api.get(EVENTS)
                answers.append((response.status_code, response.json(), took))
            time.sleep(0.1)
        for event_id in spooled_ids(spool_file):
            seen.setdefault(event_id, round(time.monotonic() - cut_at, 1))
        recognised = [
            r for r in worker.reports[reports_at_cut:] if r.member_id == obama
        ]  # tracks that ended during the outage
        held = sum(c.visits for c in dict(worker._footfall_unsaved).values())
        frames_in_outage = worker.frames - frames_at_cut
        assert event_ids(direct) == before, "nothing reached the database during the outage"
        assert footfall_visits(direct) == visits_before
        proxy.restore()
        restored_at = time.monotonic()
        figures["outage_s"] = round(restored_at - cut_at, 1)

        # -- what the outage looked like ---------------------------------------------------
        assert frames_in_outage >= 100, "the worker kept processing frames"
        assert len(recognised) >= 2, "the member was recognised again and again"
        assert len(seen) >= 2, "alerts kept joining the spool during the outage"
        assert max(seen.values()) - min(seen.values()) >= 5, "spooled over the outage, not once"
        assert held >= 2, "footfall held in memory"
        for status, body, took in answers:
            assert status == 503 and set(body) == {"error"} and "unavailable" in body["error"]
            assert took < ANSWER_S
        figures.update(
            frames_in_outage=frames_in_outage,
            recognised_in_outage=len(recognised),
            spooled=len(seen),
            spooled_at_s=sorted(seen.values()),
            footfall_held=held,
            api_in_outage=[(status, round(took, 3)) for status, _, took in answers],
        )

        # -- back: the spool drains exactly once -------------------------------------------
        wait_for(
            "the spooled alerts written and the spool emptied",
            lambda: not spool_file.exists() and set(seen) <= event_ids(direct),
        )
        figures["drained_after_s"] = round(time.monotonic() - restored_at, 2)
        back = wait_for("the API answering again", lambda: ok_or_none(api.get(EVENTS)[0]))
        figures["api_back_after_s"] = round(time.monotonic() - restored_at, 2)
        assert back is not None and set(seen) <= {item["id"] for item in back.json()["items"]}
        wait_for("held footfall written", lambda: footfall_visits(direct) >= visits_before + held)

        # -- back: the gallery watcher applies a withdrawal ---------------------------------
        withdrawn_at = time.monotonic()
        withdraw(site_ledger, obama)
        wait_for("the withdrawal applied by the gallery", lambda: gallery.members == 0)
        figures["withdrawal_applied_after_s"] = round(time.monotonic() - withdrawn_at, 2)
        applied_at_frame = worker.frames
        # One more frame: an alert decided on the old gallery is written by then.
        wait_for("a frame on the new gallery", lambda: worker.frames > applied_at_frame + 1)
        written = event_ids(direct)
        passes = running.source.passes
        wait_for("two more passes of the clip", lambda: running.source.passes >= passes + 2)
        assert not running.errors, running.errors
        recognised_after = [
            r
            for r in worker.reports
            if r.member_id == obama and r.frames[0][0] > applied_at_frame + 1
        ]
        assert recognised_after == [], "not recognised after the withdrawal"
        assert any(r.frames[0][0] > applied_at_frame + 1 for r in worker.reports), "tracks seen"
        assert event_ids(direct) == written

    with direct.transaction() as s:
        events = list(s.execute(select(Event)).scalars())
        outbox = list(s.execute(select(OutboxEntry.event_id)).scalars())
        alerts = [
            a.details["event_id"]
            for a in s.execute(select(AuditEntry).where(AuditEntry.action == "recognition.alert"))
            .scalars()
            .all()
        ]
        verified = chain.verify(s)
    ids = [e.id for e in events]
    assert set(seen) <= set(ids)
    assert sorted(outbox) == sorted(ids) and sorted(alerts) == sorted(ids), "each exactly once"
    assert {e.member_id for e in events} == {obama}
    assert verified.ok, verified.reason
    assert not spool_file.exists()
    print("outage figures:", json.dumps(figures))


@dataclass(frozen=True)
class Cut:
    """What a worker did during one cut of the proxy."""

    frames: int
    recognised: int
    spooled: frozenset[str]


def cut_for(
    proxy: DbProxy, running: RunningWorker, member_id: str, seconds: float, *, blackhole: bool
) -> Cut:
    """Cut the server off for ``seconds`` (refused, or black-holed) while the worker runs; the
    figures of the cut, taken before the restore."""
    worker = running.worker
    spool_file = worker.alerts.spool.path
    proxy.cut(blackhole=blackhole)
    cut_at = time.monotonic()
    frames_at_cut, reports_at_cut = worker.frames, len(worker.reports)
    seen: set[str] = set()
    while time.monotonic() - cut_at < seconds:
        assert not running.errors, running.errors
        seen.update(spooled_ids(spool_file))
        time.sleep(0.1)
    seen.update(spooled_ids(spool_file))
    frames = worker.frames - frames_at_cut
    recognised = [r for r in worker.reports[reports_at_cut:] if r.member_id == member_id]
    proxy.restore()
    return Cut(frames, len(recognised), frozenset(seen))


@POSTGRES_ONLY
@pytest.mark.slow
def test_a_silent_server_does_not_slow_recognition(
    site_ledger: Ledger,
    pipeline_settings: Settings,
    enrol: Callable[[str, str], str],
    camera: Callable[[str, Path, str], str],
    two_people_clip: tuple[Path, ClipTruth],
    proxy: DbProxy,
    direct: Store,
) -> None:
    """A host gone silent (every connection attempt accepted and never answered, so only the
    client's connect timeout ends it) while a door camera runs: the worker keeps its pace, as
    through a cut where connections are refused at once, instead of waiting out a timeout at
    every alert, spool retry and footfall write; the alerts are spooled, and written exactly
    once after the restore."""
    obama = enrol("Barack", "obama.jpg")
    camera("door-1", two_people_clip[0], "door")
    with running_worker(site_ledger, "door-1", two_people_clip[0]) as running:
        spool_file = running.worker.alerts.spool.path
        wait_for("a first alert written through the proxy", lambda: event_ids(direct))
        cuts: dict[str, Cut] = {}
        for kind in ("refused", "silent"):
            cuts[kind] = cut_for(proxy, running, obama, SILENT_OUTAGE_S, blackhole=kind == "silent")

            def written(kind: str = kind) -> bool:
                return not spool_file.exists() and cuts[kind].spooled <= event_ids(direct)

            wait_for(f"the alerts spooled in the {kind} cut written and the spool emptied", written)
        assert not running.errors, running.errors
    refused, silent = cuts["refused"], cuts["silent"]
    print(
        "cuts:", json.dumps({k: [c.frames, c.recognised, len(c.spooled)] for k, c in cuts.items()})
    )
    assert silent.frames >= 0.5 * refused.frames, (silent, refused)
    assert silent.recognised >= 2, "the member was recognised again and again"
    assert len(silent.spooled) >= 2, "each alert spooled"
    with direct.transaction() as s:
        ids = sorted(s.execute(select(Event.id)).scalars())
        outbox = sorted(s.execute(select(OutboxEntry.event_id)).scalars())
        alerts = sorted(
            a.details["event_id"]
            for a in s.execute(select(AuditEntry).where(AuditEntry.action == "recognition.alert"))
            .scalars()
            .all()
        )
        verified = chain.verify(s)
    assert silent.spooled | refused.spooled <= set(ids)
    assert outbox == ids and alerts == ids, "each exactly once"
    assert verified.ok, verified.reason


@POSTGRES_ONLY
def test_the_api_answers_503_in_bounded_time_while_the_server_is_silent(
    site_ledger: Ledger, pipeline_settings: Settings, proxy: DbProxy
) -> None:
    """A server that answers nothing (its host gone silent): each request is answered 503 once
    the connection attempt times out, not held until the kernel gives up; 200 again after."""
    with staff_api(pipeline_settings, site_ledger) as api:
        assert api.get(EVENTS)[0].status_code == 200
        proxy.cut(blackhole=True)
        try:
            for path in (EVENTS, "/healthz"):
                response, took = api.get(path)
                assert response.status_code == 503, path
                assert response.json() == {"error": UNAVAILABLE}  # not the server's address
                assert took < CONNECT_TIMEOUT_S + ANSWER_S, path
        finally:
            proxy.restore()
        assert api.get(EVENTS)[0].status_code == 200


@POSTGRES_ONLY
def test_a_connection_that_died_in_the_pool_is_replaced(
    site_ledger: Ledger, pipeline_settings: Settings, proxy: DbProxy
) -> None:
    """The server restarts while the API is idle: the first request afterwards is answered, not
    failed on the pooled connection that died meanwhile."""
    with staff_api(pipeline_settings, site_ledger) as api:
        assert api.get(EVENTS)[0].status_code == 200
        proxy.cut()
        proxy.restore()
        assert api.get(EVENTS)[0].status_code == 200


@POSTGRES_ONLY
def test_the_cli_says_the_store_is_unavailable_in_one_line(
    site_ledger: Ledger,
    pipeline_settings: Settings,
    proxy: DbProxy,
    run_cli: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not bad input (2) nor an internal error's message: exit 1 with one line saying to retry."""
    assert pipeline_settings.database_url is not None
    monkeypatch.setenv("CONSENTCAM_DEV", "1")  # the fixtures' development key, in --data-dir
    where = [
        "--data-dir",
        str(pipeline_settings.data_dir),
        "--db-url",
        pipeline_settings.database_url,
    ]
    proxy.cut()
    try:
        code, out, err = run_cli(*where, "audit", "verify")
    finally:
        proxy.restore()
    assert (code, out) == (1, "")
    assert err.startswith("error: the store is unavailable (") and err.endswith("retry later\n")
    assert err.count("\n") == 1
    code, out, err = run_cli(*where, "audit", "verify")
    assert code == 0, err


def test_only_a_lost_server_is_an_outage() -> None:
    """A server's OperationalError (refused, reset, timed out) or an error on a connection found
    dead is the store unavailable; a constraint violated, or SQLite's OperationalError for a
    statement that names no such table, is a bug and stays one."""
    refused = psycopg.OperationalError("connection failed: Connection refused\nIs the server up?")
    outage = store_unavailable(OperationalError("SELECT 1", {}, refused))
    assert isinstance(outage, StoreUnavailable)
    assert str(outage) == (
        "the store is unavailable (connection failed: Connection refused); retry later"
    )
    dead = InterfaceError("SELECT 1", {}, psycopg.InterfaceError("closed"))
    dead.connection_invalidated = True
    assert isinstance(store_unavailable(dead), StoreUnavailable)
    for bug in (
        IntegrityError("INSERT", {}, psycopg.IntegrityError("duplicate key")),
        OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: nope")),
        ValueError("not a database error"),
    ):
        assert store_unavailable(bug) is None


def test_a_database_error_that_is_not_an_outage_is_still_a_logged_500(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "store", dev=True)
    open_ledger(settings, "test:setup", create=True)
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500 and response.json() == {"error": "internal error"}
    with TestClient(app) as client, pytest.raises(IntegrityError):
        client.get("/boom")  # re-raised to the server, which logs it


def test_no_free_pooled_connection_is_a_503(tmp_path: Path) -> None:
    """SQLAlchemy's pool timing out (every connection busy) is an overloaded store: retry later."""
    settings = load_settings(data_dir=tmp_path / "store", dev=True)
    open_ledger(settings, "test:setup", create=True)
    app = create_app(settings)

    @app.get("/busy")
    def busy() -> None:
        raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached, connection timed out")

    with TestClient(app) as client:
        response = client.get("/busy")
    assert response.status_code == 503 and response.json() == {"error": UNAVAILABLE}
