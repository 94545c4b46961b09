from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger
from consentcam.consent.enrolment import enroll
from consentcam.consent.gallery import SiteGallery
from consentcam.consent.members import add_member
from consentcam.consent.rights import withdraw
from consentcam.consent.sites import add_site
from consentcam.store.models import Site, utcnow
from consentcam.vision.faces import file_faces


@pytest.fixture(scope="module")
def obama(photos: Path) -> np.ndarray:
    return file_faces(photos / "obama2.jpg")[0].vector


def _site(ledger: Ledger, name: str = "flagship") -> Site:
    with ledger.store.transaction() as s:
        site = s.execute(select(Site).where(Site.name == name)).scalar_one()
    return site


def _enrol(ledger: Ledger, photos: Path, evidence: Path, **consent: object) -> str:
    add_site(ledger, "flagship", "eu")
    member = add_member(ledger, "flagship", "Member")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence, **consent)  # type: ignore[arg-type]
    enroll(ledger, member.id, [photos / "obama.jpg"])
    return member.id


def test_refresh_picks_up_enrolment_and_withdrawal(
    ledger: Ledger, photos: Path, evidence: Path, obama: np.ndarray
) -> None:
    add_site(ledger, "flagship", "eu")
    worker = SiteGallery(ledger, _site(ledger))
    worker.refresh()
    assert worker.identify(obama).member_id is None and worker.members == 0
    member = add_member(ledger, "flagship", "Member")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    enroll(ledger, member.id, [photos / "obama.jpg"])
    assert worker.refresh() is True
    assert worker.identify(obama).member_id == member.id
    assert worker.refresh() is False  # nothing changed: one counter read, no decryption
    withdraw(ledger, member.id)
    assert worker.refresh() is True
    assert worker.identify(obama).member_id is None and worker.members == 0


def test_two_workers_stop_recognising_within_two_seconds_of_withdrawal(
    ledger: Ledger, photos: Path, evidence: Path, obama: np.ndarray
) -> None:
    """Privacy invariant 3: after withdrawal no worker recognises the person 2 s later."""
    member_id = _enrol(ledger, photos, evidence)
    workers = [SiteGallery(ledger, _site(ledger)) for _ in range(2)]
    for w in workers:
        w.refresh()
        assert w.identify(obama).member_id == member_id
    with workers[0].watch(0.1), workers[1].watch(0.1):
        withdraw(ledger, member_id)
        withdrawn_at = time.monotonic()
        deadline = withdrawn_at + 2.0
        while time.monotonic() < deadline and any(w.identify(obama).member_id for w in workers):
            time.sleep(0.02)
        assert all(w.identify(obama).member_id is None for w in workers)


def test_expiry_removes_a_template_without_any_row_change(
    ledger: Ledger, photos: Path, evidence: Path, obama: np.ndarray
) -> None:
    expires = utcnow() + dt.timedelta(days=30)
    member_id = _enrol(ledger, photos, evidence, expires=expires)
    worker = SiteGallery(ledger, _site(ledger))
    worker.refresh(now=utcnow())
    assert worker.identify(obama).member_id == member_id
    assert worker.refresh(now=expires + dt.timedelta(seconds=1)) is True
    assert worker.identify(obama).member_id is None


def test_threshold_tightens_with_gallery_size(
    make_ledger: Callable[..., Ledger], photos: Path, evidence: Path, obama: np.ndarray
) -> None:
    ledger = make_ledger()
    _enrol(ledger, photos, evidence)
    worker = SiteGallery(ledger, _site(ledger))
    worker.refresh()
    one = worker.identify(obama).threshold
    member = add_member(ledger, "flagship", "Second")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    enroll(ledger, member.id, [photos / "biden.jpg"])
    worker.refresh()
    assert worker.members == 2 and worker.identify(obama).threshold < one


def test_postgres_notifications_wake_workers_at_once(
    ledger: Ledger, photos: Path, evidence: Path, obama: np.ndarray
) -> None:
    if ledger.store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no notifications; its workers poll (tested above)")
    member_id = _enrol(ledger, photos, evidence)
    worker = SiteGallery(ledger, _site(ledger))
    worker.refresh()
    assert worker.identify(obama).member_id == member_id
    with worker.watch(interval_s=60):  # polling alone could not make the deadline
        time.sleep(0.2)  # let the listener subscribe
        withdraw(ledger, member_id)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and worker.identify(obama).member_id:
            time.sleep(0.02)
        assert worker.identify(obama).member_id is None


def test_a_withdrawal_is_applied_while_a_slow_full_refresh_runs(
    ledger: Ledger, photos: Path, evidence: Path, obama: np.ndarray
) -> None:
    """At 100,000 members a full refresh takes seconds; the notification names the member, so
    the listener drops their templates at once, whatever the refresher is doing."""
    if ledger.store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no notifications; its workers poll (tested above)")
    member_id = _enrol(ledger, photos, evidence)
    worker = SiteGallery(ledger, _site(ledger))
    worker.refresh()
    release = threading.Event()
    refreshing = threading.Event()

    def slow_refresh(now: dt.datetime | None = None) -> bool:
        refreshing.set()
        release.wait(30)
        return False

    worker.refresh = slow_refresh  # type: ignore[method-assign]
    with worker.watch(interval_s=0.05):
        assert refreshing.wait(5)  # the refresher is stuck in a "full reload"
        time.sleep(0.2)  # let the listener subscribe
        withdraw(ledger, member_id)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and worker.identify(obama).member_id:
            time.sleep(0.02)
        assert worker.identify(obama).member_id is None
        release.set()


def test_a_refresh_that_read_before_a_withdrawal_does_not_bring_the_member_back(
    ledger: Ledger, photos: Path, evidence: Path, obama: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race between the listener's drop and a full refresh whose read began before the
    withdrawal: the refresh finishes with the member's templates in its (old) view, and must not
    add them again."""
    member_id = _enrol(ledger, photos, evidence)
    worker = SiteGallery(ledger, _site(ledger))
    worker.refresh()
    with ledger.store.transaction() as s:
        before = worker._live_templates(s, utcnow())
        sealed_before = worker._sealed(s, list(before))
    withdraw(ledger, member_id)
    assert worker.drop_withdrawn([member_id]) == 1
    assert worker.identify(obama).member_id is None
    worker._fused.member_of.clear()  # as if the refresh had read before the drop, too
    monkeypatch.setattr(worker, "_live_templates", lambda s, now: before)
    monkeypatch.setattr(worker, "_sealed", lambda s, ids: sealed_before)
    worker.refresh()
    assert worker.identify(obama).member_id is None
    monkeypatch.undo()
    worker._version = None  # the next change's full read, which no longer sees the rows
    worker.refresh()
    assert worker.identify(obama).member_id is None and worker._fused.dropped == set()


def test_dropping_a_member_whose_templates_are_live_changes_nothing(
    ledger: Ledger, photos: Path, evidence: Path, obama: np.ndarray
) -> None:
    """Enrolment notifications name the member too: a drop must only remove what is gone."""
    member_id = _enrol(ledger, photos, evidence)
    worker = SiteGallery(ledger, _site(ledger))
    worker.refresh()
    assert worker.drop_withdrawn([member_id, "nobody"]) == 0
    assert worker.identify(obama).member_id == member_id


def test_index_kind_follows_the_gallery_size(
    ledger: Ledger, photos: Path, evidence: Path, obama: np.ndarray
) -> None:
    from consentcam.match.index import ExactIndex, HnswIndex

    member_id = _enrol(ledger, photos, evidence)
    small = SiteGallery(ledger, _site(ledger))
    small.refresh()
    assert isinstance(small._fused.index, ExactIndex)
    large = SiteGallery(ledger, _site(ledger), exact_max=0)  # any gallery counts as large
    large.refresh()
    assert isinstance(large._fused.index, HnswIndex)
    assert large.identify(obama).member_id == member_id


def test_a_store_outage_is_logged_once_when_it_begins_and_once_when_it_ends(
    ledger: Ledger, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher tries the store four times a second while it is away: one warning (with the
    error's class) when it goes, one line (with how long it was away) when it is back, however
    many refreshes and notified drops failed in between."""
    add_site(ledger, "flagship", "eu")
    gallery = SiteGallery(ledger, _site(ledger))
    away = threading.Event()
    away.set()
    tries: list[bool] = []  # whether the store was away at each refresh
    refresh = gallery.refresh

    def refresh_unless_away(now: dt.datetime | None = None) -> bool:
        tries.append(away.is_set())
        if away.is_set():
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
        return refresh(now)

    def drop_away(member_ids: object, now: object = None) -> int:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr(gallery, "refresh", refresh_unless_away)
    monkeypatch.setattr(gallery, "drop_withdrawn", drop_away)
    caplog.set_level(logging.INFO, logger="consentcam.consent.gallery")

    def wait_for(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 30
        while not condition():
            assert time.monotonic() < deadline
            time.sleep(0.01)

    with gallery.watch(interval_s=0.01):
        wait_for(lambda: tries.count(True) >= 10)
        gallery._drop_quietly(["m1"])  # a notification handled while the store is away
        away.clear()
        wait_for(lambda: tries.count(False) >= 3)
    lines = [r.getMessage() for r in caplog.records if r.name == "consentcam.consent.gallery"]
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"gallery {gallery.site_id}: store unavailable (OperationalError)")
    assert re.fullmatch(rf"gallery {gallery.site_id}: store back after \d+\.\d s", lines[1])
