"""The camera worker end to end on short clips with the real models: modes and gates, member
events with outbox and audit, cooldown, verify-mode claims, door confirmation, and privacy
invariants 2, 4 and 7."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, update

from consentcam.config import Settings
from consentcam.consent.context import Ledger
from consentcam.consent.rights import withdraw
from consentcam.consent.sites import camera_source_policy
from consentcam.errors import InputError, PolicyError
from consentcam.events.claims import open_claim
from consentcam.events.staff import confirm_event
from consentcam.match.gallery import Identification
from consentcam.pipeline.camera import camera_context
from consentcam.pipeline.clips import ClipTruth
from consentcam.pipeline.decisions import LiveTrack
from consentcam.pipeline.sources import open_source
from consentcam.pipeline.worker import CameraWorker, process_video, run_camera
from consentcam.store import crypto
from consentcam.store.models import (
    AuditEntry,
    Camera,
    Claim,
    Event,
    FootfallBucket,
    OutboxEntry,
    Site,
)
from consentcam.vision.embed import numpy_embeddings

Enrol = Callable[[str, str], str]
AddCamera = Callable[[str, Path | str, str], str]


def _rows(ledger: Ledger, model: type) -> list[Any]:
    with ledger.store.transaction() as s:
        return list(s.execute(select(model)).scalars())


def _audit_actions(ledger: Ledger) -> list[str]:
    return [a.action for a in _rows(ledger, AuditEntry)]


def _truth_name(truth: ClipTruth, frame: int, box: Any) -> str | None:
    best = max(truth.boxes[frame], key=lambda nb: nb[1].iou(box), default=None)
    return best[0] if best is not None and best[1].iou(box) >= 0.3 else None


def test_door_mode_recognises_the_member_and_only_the_member(
    site_ledger: Ledger,
    enrol: Enrol,
    camera: AddCamera,
    two_people_clip: tuple[Path, ClipTruth],
) -> None:
    clip, truth = two_people_clip
    obama = enrol("Barack", "obama.jpg")
    camera("door-1", clip, "door")

    run = process_video(site_ledger, "door-1")

    assert run.frames == truth.frames
    named = [r for r in run.tracks if r.member_id == obama]
    assert len(named) == 1
    # The identity covers every frame of the track, and those frames are Obama's.
    assert all(_truth_name(truth, f, box) in ("obama", None) for f, box in named[0].frames)
    assert len(named[0].frames) >= truth.visible_frames()["obama"] * 0.8
    assert any(r.member_id is None for r in run.tracks), "Biden is tracked but stays unknown"
    (event,) = run.events
    assert event["kind"] == "recognition" and event["member_id"] == obama
    assert event["status"] == "pending"
    payload = event["payload"]
    assert payload["allowed_actions"] == ["greet"] and payload["confirmation"] == "required"
    assert payload["distance"] <= payload["threshold"]
    assert payload["member"]["name"] == "Barack"
    assert set(payload["purchases"]) >= {"last_visits", "top_items", "spend_cents"}
    # Written with its outbox entry and audited, in the same transaction.
    assert [o.event_id for o in _rows(site_ledger, OutboxEntry)] == [event["id"]]
    assert "recognition.alert" in _audit_actions(site_ledger)


def test_one_visit_gives_one_alert(
    site_ledger: Ledger, enrol: Enrol, camera: AddCamera, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    enrol("Barack", "obama.jpg")
    camera("door-1", two_people_clip[0], "door")
    assert len(process_video(site_ledger, "door-1").events) == 1
    # A second pass within the cooldown is the same visit: the member is still recognised...
    again = process_video(site_ledger, "door-1")
    assert any(r.member_id for r in again.tracks)
    assert again.events == ()
    # ...and once the cooldown is off, it alerts again.
    settings = site_ledger.settings
    no_cooldown = settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"cooldown_s": 0.0})}
    )
    assert len(process_video(site_ledger, "door-1", settings=no_cooldown).events) == 1
    assert len(_rows(site_ledger, Event)) == 2


def test_withdrawn_member_is_no_longer_recognised(
    site_ledger: Ledger, enrol: Enrol, camera: AddCamera, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    obama = enrol("Barack", "obama.jpg")
    camera("lane-1", two_people_clip[0], "lane")
    withdraw(site_ledger, obama)
    run = process_video(site_ledger, "lane-1")
    assert run.events == () and all(r.member_id is None for r in run.tracks)


def test_count_mode_never_calls_the_embedder(
    site_ledger: Ledger, camera: AddCamera, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    """Privacy invariant 4; footfall is still counted."""

    def refuse(chips: np.ndarray) -> np.ndarray:
        raise AssertionError("count mode called the embedder")

    camera("count-1", two_people_clip[0], "count")
    ctx = camera_context(site_ledger, "count-1")
    worker = CameraWorker(site_ledger, ctx, embedder=refuse)
    source = open_source(ctx.source, ctx.camera)
    run_camera(worker, source)
    assert worker.frames == two_people_clip[1].frames
    assert worker.gallery is None
    buckets = _rows(site_ledger, FootfallBucket)
    assert sum(b.visits for b in buckets) >= 2
    assert _rows(site_ledger, Event) == []


def test_unmatched_faces_leave_no_trace(
    site_ledger: Ledger,
    enrol: Enrol,
    camera: AddCamera,
    stranger_clip: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Privacy invariant 2: a clip of a non-member leaves nothing of his face in the database,
    the data directory or the logs, and no event, audit entry or metric names him."""
    enrol("Barack", "obama.jpg")
    camera("lane-1", stranger_clip, "lane")
    seen: list[np.ndarray] = []

    def spy(chips: np.ndarray) -> np.ndarray:
        seen.append(chips.copy())
        vectors = numpy_embeddings(chips)
        seen.append(vectors.copy())
        return vectors

    audit_before = len(_rows(site_ledger, AuditEntry))
    caplog.set_level(logging.DEBUG)
    ctx = camera_context(site_ledger, "lane-1")
    worker = CameraWorker(site_ledger, ctx, embedder=spy, keep_reports=True)
    assert worker.gallery is not None
    worker.gallery.refresh()
    source = open_source(ctx.source, ctx.camera)
    run_camera(worker, source)

    assert seen, "the stranger's face was embedded (lane mode), so there is something to look for"
    assert worker.reports and all(r.member_id is None for r in worker.reports)
    assert worker.live_tracks == 0
    assert _rows(site_ledger, Event) == [] and _rows(site_ledger, OutboxEntry) == []
    assert len(_rows(site_ledger, AuditEntry)) == audit_before
    transform = crypto.tenant_transform(site_ledger.keys.key, ctx.tenant_id)
    assert_nowhere(site_ledger, caplog.text, _needles(seen, transform))


def assert_nowhere(ledger: Ledger, logs: str, needles: list[bytes]) -> None:
    """None of ``needles`` is in the store (the database file or PostgreSQL's tables), any file
    of the data directory or the captured logs."""
    haystacks = [_store_bytes(ledger), logs.encode()]
    data_dir = ledger.settings.data_dir
    if data_dir.is_dir():
        haystacks += [p.read_bytes() for p in data_dir.rglob("*") if p.is_file()]
    for hay in haystacks:
        assert not any(n in hay for n in needles)


def _needles(seen: list[np.ndarray], transform: Any) -> list[bytes]:
    """Byte patterns of everything the embedder saw or made: the start of each chip's pixels,
    and each embedding's first values as float32 and float64, raw and tenant-transformed."""
    needles: list[bytes] = []
    for array in seen:
        if array.dtype == np.uint8:
            needles += [c[40:44].tobytes() for c in array]  # rows from the middle of the face
            continue
        vectors = np.concatenate([array, crypto.protect(transform, array)])
        for v in vectors:
            needles += [v[:4].astype(np.float32).tobytes(), v[:4].astype(np.float64).tobytes()]
    return needles


def _store_bytes(ledger: Ledger) -> bytes:
    url = ledger.store.engine.url
    if url.get_backend_name() == "sqlite":
        ledger.store.engine.dispose()
        assert url.database
        return Path(url.database).read_bytes()
    with ledger.store.engine.connect() as conn:
        from sqlalchemy import text

        rows = []
        tables = ("events", "outbox", "audit", "footfall", "claims", "templates")
        for table in (*tables, "held_views", "member_images"):
            rows += [repr(r).encode() for r in conn.execute(text(f"SELECT * FROM {table}"))]
        return b"\n".join(rows)


def test_forgetting_a_track_zeroes_its_faces() -> None:
    track = LiveTrack(1)
    vector = np.ones(128, np.float32)
    chips = np.full((1, 150, 150, 3), 7, np.uint8)
    track.embeddings.append(vector)
    track.candidate = chips
    track.forget_faces()
    assert not vector.any() and not chips.any()
    assert track.embeddings == [] and track.candidate is None


def test_face_modes_refuse_to_start_without_signage_or_profile(
    site_ledger: Ledger, camera: AddCamera, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    """Privacy invariant 7, checked again at start: a camera row changed behind the library's
    back (attestation withdrawn, site moved to a stricter profile) does not run."""
    camera("door-1", two_people_clip[0], "door")
    with site_ledger.store.transaction() as s:
        s.execute(update(Camera).values(signage_attested=False))
    with pytest.raises(PolicyError, match="signage"):
        camera_context(site_ledger, "door-1")
    with site_ledger.store.transaction() as s:
        s.execute(update(Camera).values(signage_attested=True))
        s.execute(update(Site).values(jurisdiction="cn"))
    with pytest.raises(PolicyError, match="not allowed"):
        camera_context(site_ledger, "door-1")
    with site_ledger.store.transaction() as s:
        s.execute(update(Site).values(jurisdiction="us-portland"))
        s.execute(update(Camera).values(mode="count"))
    assert camera_context(site_ledger, "door-1").mode == "count"


def test_verify_mode_checks_the_claimed_member_only(
    site_ledger: Ledger, enrol: Enrol, camera: AddCamera, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    obama = enrol("Barack", "obama.jpg")
    camera("kiosk", two_people_clip[0], "verify")
    calls: list[int] = []

    def counting(chips: np.ndarray) -> np.ndarray:
        calls.append(len(chips))
        return numpy_embeddings(chips)

    def run() -> CameraWorker:
        ctx = camera_context(site_ledger, "kiosk")
        worker = CameraWorker(site_ledger, ctx, embedder=counting, keep_reports=True)
        run_camera(worker, open_source(ctx.source, ctx.camera))
        return worker

    # No claim: nobody's face is embedded at all.
    assert run().events == [] and calls == []
    claim = open_claim(site_ledger, "kiosk", obama)
    worker = run()
    (event,) = worker.events
    assert event["kind"] == "verification" and event["member_id"] == obama
    assert event["status"] is None  # verify mode needs no staff confirmation
    (stored,) = _rows(site_ledger, Claim)
    assert stored.id == claim.id and stored.status == "verified"


def test_claims_expire_and_are_refused_where_they_make_no_sense(
    site_ledger: Ledger, enrol: Enrol, camera: AddCamera, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    obama = enrol("Barack", "obama.jpg")
    camera("kiosk", two_people_clip[0], "verify")
    camera("door-1", two_people_clip[0], "door")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    open_claim(site_ledger, "kiosk", obama, ttl_s=60, now=past)
    ctx = camera_context(site_ledger, "kiosk")
    worker = CameraWorker(site_ledger, ctx, keep_reports=True)
    run_camera(worker, open_source(ctx.source, ctx.camera))
    assert worker.events == []
    assert [c.status for c in _rows(site_ledger, Claim)] == ["expired"]
    with pytest.raises(PolicyError, match="verify mode"):
        open_claim(site_ledger, "door-1", obama)
    with pytest.raises(InputError):
        open_claim(site_ledger, "kiosk", obama, ttl_s=0)


def _no_cooldown(ledger: Ledger) -> Ledger:
    settings = ledger.settings
    pipeline = settings.pipeline.model_copy(update={"cooldown_s": 0.0})
    return Ledger(
        ledger.store, ledger.keys, ledger.actor, settings.model_copy(update={"pipeline": pipeline})
    )


def test_verified_claims_are_remembered_only_until_they_expire(
    site_ledger: Ledger, enrol: Enrol, camera: AddCamera, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    """A verified claim is not offered again (its row stays open while the alert waits in the
    spool), but it is forgotten once it expires: a kiosk camera running for months does not keep
    every claim id it ever verified."""
    obama = enrol("Barack", "obama.jpg")
    camera("kiosk", two_people_clip[0], "verify")
    ledger = _no_cooldown(site_ledger)  # one alert per claim, however close together
    worker = CameraWorker(ledger, camera_context(ledger, "kiosk"))
    match = Identification(obama, 0.3, 0.6, 1)
    start = dt.datetime.now(dt.UTC)
    for k in range(4):
        now = start + dt.timedelta(minutes=10 * k)
        claim = open_claim(ledger, "kiosk", obama, ttl_s=60, now=now)
        worker._claim_cache.read_at = -1.0  # claims are re-read twice a second: as if it had been
        (offered,) = worker._claims(now)
        assert offered.claim_id == claim.id
        event = worker._alert(LiveTrack(k), match, offered, now)
        assert event is not None and event["kind"] == "verification"
        assert worker._claims(now) == []
        assert list(worker._claim_cache.verified) == [claim.id], (
            "earlier claims expired and were forgotten"
        )
    assert [c.status for c in _rows(ledger, Claim)] == ["verified"] * 4


def test_a_claim_is_answered_within_the_alert_cooldown(
    site_ledger: Ledger, enrol: Enrol, camera: AddCamera, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    """The cooldown keeps a browsing member from alerting staff again; a member who asks to be
    verified twice in a quarter of an hour is verified twice, not left with a claim that silently
    expires while the worker keeps embedding faces for it."""
    obama = enrol("Barack", "obama.jpg")
    camera("kiosk", two_people_clip[0], "verify")
    assert site_ledger.settings.pipeline.cooldown_s >= 600
    worker = CameraWorker(site_ledger, camera_context(site_ledger, "kiosk"))
    match = Identification(obama, 0.3, 0.6, 1)
    start = dt.datetime.now(dt.UTC)
    for k in range(2):
        now = start + dt.timedelta(minutes=k)
        open_claim(site_ledger, "kiosk", obama, ttl_s=60, now=now)
        worker._claim_cache.read_at = -1.0
        (offered,) = worker._claims(now)
        event = worker._alert(LiveTrack(k), match, offered, now)
        assert event is not None and event["kind"] == "verification"
    assert [c.status for c in _rows(site_ledger, Claim)] == ["verified"] * 2
    # Without a claim the cooldown still holds.
    assert worker._alert(LiveTrack(3), match, None, start + dt.timedelta(minutes=2)) is None


def test_a_claim_read_before_it_expired_is_not_honoured_after(
    site_ledger: Ledger, enrol: Enrol, camera: AddCamera, two_people_clip: tuple[Path, ClipTruth]
) -> None:
    """Claims are re-read from the store at most twice a second, and not at all while it is
    unreachable: the copy the worker holds ends at the claim's expiry all the same."""
    obama = enrol("Barack", "obama.jpg")
    camera("kiosk", two_people_clip[0], "verify")
    worker = CameraWorker(site_ledger, camera_context(site_ledger, "kiosk"))
    now = dt.datetime.now(dt.UTC)
    open_claim(site_ledger, "kiosk", obama, ttl_s=60, now=now)
    assert len(worker._claims(now)) == 1
    assert worker._claims(now + dt.timedelta(seconds=61)) == []


def test_worker_figures_account_for_every_frame_the_source_read(
    site_ledger: Ledger, camera: AddCamera
) -> None:
    """Frames a live source read = processed + dropped + waiting, in every figure the worker
    sends: frames the worker was too slow for show as dropped (and reach the metrics)."""
    from tests.pipeline.stream_fixtures import MjpegServer

    server = MjpegServer(per_connection=None, interval_s=0.01)
    with server.running():
        camera("street", server.url, "count")
        ctx = camera_context(site_ledger, "street")
        worker = CameraWorker(site_ledger, ctx, detector=lambda image, upsample: [])
        source = open_source(
            server.url, ctx.camera, policy=camera_source_policy(site_ledger.settings)
        )
        stop = threading.Event()
        stats: list[Any] = []

        def slow(n: int) -> None:
            time.sleep(0.05)  # a worker slower than the camera: its buffer drops frames
            if n >= 10:
                stop.set()

        run_camera(worker, source, stop=stop, on_frame=slow, on_stats=stats.append, stats_every_s=0)
        source.close()
    assert stats[-1].frames == worker.frames >= 10
    assert stats[-1].dropped > 0
    assert all(s.frames_read == s.frames + s.dropped + s.queue_depth for s in stats)


def test_staff_confirm_door_events_once_and_are_audited(
    site_ledger: Ledger,
    store_settings: Settings,
    enrol: Enrol,
    camera: AddCamera,
    two_people_clip: tuple[Path, ClipTruth],
) -> None:
    enrol("Barack", "obama.jpg")
    camera("door-1", two_people_clip[0], "door")
    (event,) = process_video(site_ledger, "door-1").events
    staff = Ledger(site_ledger.store, site_ledger.keys, "staff:ana", site_ledger.settings)
    done = confirm_event(staff, event["id"])
    assert done["status"] == "confirmed" and done["confirmed_by"] == "staff:ana"
    with pytest.raises(InputError, match="needs no confirmation"):
        confirm_event(staff, event["id"], confirm=False)
    (stored,) = [e for e in _rows(site_ledger, Event) if e.id == event["id"]]
    assert stored.status == "confirmed" and stored.confirmed_by == "staff:ana"
    kinds = [e.kind for e in _rows(site_ledger, Event)]
    assert "recognition.confirmed" in kinds  # announced on the stream
    entries = [a for a in _rows(site_ledger, AuditEntry) if a.action == "event.confirmed"]
    assert [a.actor for a in entries] == ["staff:ana"]


def test_a_worker_rides_out_a_stream_that_drops(site_ledger: Ledger, camera: AddCamera) -> None:
    """A live camera that drops its connection every few frames: the worker keeps processing
    frames from new connections, and the reconnects show in its figures."""
    from tests.pipeline.stream_fixtures import MjpegServer, frame_connection

    settings = site_ledger.settings
    fast = settings.model_copy(
        update={
            "source": settings.source.model_copy(
                update={"reconnect_initial_s": 0.05, "reconnect_max_s": 0.2}
            )
        }
    )
    ledger = Ledger(site_ledger.store, site_ledger.keys, site_ledger.actor, fast)
    server = MjpegServer(per_connection=5, interval_s=0.01)
    with server.running():
        camera("street", server.url, "count")
        ctx = camera_context(ledger, "street")
        source = open_source(server.url, ctx.camera, fast.source, policy=camera_source_policy(fast))
        worker = CameraWorker(ledger, ctx)
        connections: set[int] = set()
        stop = threading.Event()
        stats: list[Any] = []

        def on_frame(n: int) -> None:
            if n >= 15:
                stop.set()

        original = worker.process

        def process(frame: Any) -> list[dict[str, Any]]:
            connections.add(frame_connection(frame.image[:, :, ::-1]))
            return original(frame)

        worker.process = process  # type: ignore[method-assign]
        run_camera(worker, source, stop=stop, on_frame=on_frame, on_stats=stats.append)
        source.close()
    assert worker.frames >= 15
    assert len(connections) >= 3
    assert stats[-1].reconnects >= 2
