"""Footfall in the store (pipeline.footfall): hourly rows added to by workers, and the report."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import select

from consentcam.consent.context import Ledger
from consentcam.consent.sites import add_camera, add_site
from consentcam.errors import InputError
from consentcam.pipeline.footfall import add_footfall, footfall_report
from consentcam.store.models import FootfallBucket
from consentcam.track.footfall import FootfallCounts

T0 = dt.datetime(2030, 5, 4, 10, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def cameras(ledger: Ledger) -> tuple[str, str]:
    add_site(ledger, "flagship", "eu")
    door = add_camera(ledger, "flagship", "door", "rtsp://door", "count", False)
    back = add_camera(ledger, "flagship", "back", "rtsp://back", "count", False)
    return door.id, back.id


def stored(ledger: Ledger) -> list[tuple[str, dt.datetime, int, int, int, int]]:
    with ledger.store.transaction() as s:
        rows = s.execute(
            select(
                FootfallBucket.camera_id,
                FootfallBucket.hour,
                FootfallBucket.entries,
                FootfallBucket.exits,
                FootfallBucket.dwell_seconds,
                FootfallBucket.visits,
            ).order_by(FootfallBucket.hour, FootfallBucket.camera_id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_add_footfall_inserts_rows_then_adds_to_them(
    ledger: Ledger, cameras: tuple[str, str]
) -> None:
    door, back = cameras
    with ledger.store.transaction() as s:
        add_footfall(s, door, {T0: FootfallCounts(2, 1, 30, 1)})
        add_footfall(s, back, {T0: FootfallCounts(entries=5)})
        add_footfall(s, door, {})
    with ledger.store.transaction() as s:
        add_footfall(
            s,
            door,
            {T0: FootfallCounts(1, 1, 10, 2), T0 + HOUR: FootfallCounts(exits=3)},
        )
    assert stored(ledger) == sorted(
        [(back, T0, 5, 0, 0, 0), (door, T0, 3, 2, 40, 3), (door, T0 + HOUR, 0, 3, 0, 0)],
        key=lambda row: (row[1], row[0]),
    )


def test_add_footfall_buckets_unaligned_times_by_hour(
    ledger: Ledger, cameras: tuple[str, str]
) -> None:
    door, _ = cameras
    with ledger.store.transaction() as s:
        add_footfall(
            s,
            door,
            {T0 + 5 * SECOND: FootfallCounts(entries=1), T0 + 50 * SECOND: FootfallCounts(1)},
        )
    assert stored(ledger) == [(door, T0, 2, 0, 0, 0)]


def test_workers_adding_to_the_same_hour_all_count(
    make_ledger: Callable[..., Ledger], cameras: tuple[str, str]
) -> None:
    """Several workers (each with its own connection pool) flushing the same hour at once."""
    door, _ = cameras
    workers, flushes = 4, 10
    errors: list[BaseException] = []
    ledgers = [make_ledger(f"worker:{i}") for i in range(workers)]  # migrations run serially

    def worker(ledger: Ledger) -> None:
        try:
            for _ in range(flushes):
                with ledger.store.transaction() as s:
                    add_footfall(s, door, {T0: FootfallCounts(1, 1, 7, 1)})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            ledger.store.engine.dispose()

    threads = [threading.Thread(target=worker, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    n = workers * flushes
    assert stored(make_ledger()) == [(door, T0, n, n, 7 * n, n)]


def test_footfall_report_gives_hours_in_order_with_mean_dwell(
    ledger: Ledger, cameras: tuple[str, str]
) -> None:
    door, back = cameras
    with ledger.store.transaction() as s:
        add_footfall(s, door, {T0 + HOUR: FootfallCounts(4, 3, 90, 4), T0: FootfallCounts(1)})
        add_footfall(s, back, {T0: FootfallCounts(2, 2, 10, 3), T0 + 2 * HOUR: FootfallCounts(9)})
    with ledger.store.transaction() as s:
        rows = footfall_report(s, [door, back], T0 + 30 * 60 * SECOND, T0 + 2 * HOUR)
        assert footfall_report(s, [], T0, T0 + HOUR) == []
        assert [r["hour"] for r in footfall_report(s, [back], T0 + HOUR, T0 + 3 * HOUR)] == [
            (T0 + 2 * HOUR).isoformat()
        ]
        with pytest.raises(InputError):
            footfall_report(s, [door], T0, (T0 + HOUR).replace(tzinfo=None))
    first = {"entries": 2, "exits": 2, "visits": 3, "dwell_seconds": 10, "mean_dwell_s": 3.3}
    expected = [
        {"camera_id": back, "hour": T0.isoformat(), **first},
        {
            "camera_id": door,
            "hour": T0.isoformat(),
            "entries": 1,
            "exits": 0,
            "visits": 0,
            "dwell_seconds": 0,
            "mean_dwell_s": None,
        },
        {
            "camera_id": door,
            "hour": (T0 + HOUR).isoformat(),
            "entries": 4,
            "exits": 3,
            "visits": 4,
            "dwell_seconds": 90,
            "mean_dwell_s": 22.5,
        },
    ]
    assert rows == sorted(expected, key=lambda row: (row["hour"], row["camera_id"]))
