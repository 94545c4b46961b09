from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import select

from consentcam.consent.context import Ledger
from consentcam.consent.sites import add_camera, add_site
from consentcam.errors import ConfigError, InputError
from consentcam.store.models import FootfallBucket
from consentcam.track.footfall import (
    FootfallCounter,
    FootfallCounts,
    add_footfall,
    footfall_report,
    hour_start,
)
from consentcam.vision.records import Box

T0 = dt.datetime(2030, 5, 4, 10, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
HOUR = dt.timedelta(hours=1)
FRAME = (1000, 500)  # band: 2% of 500 = 10 px either side of the default line at y = 250


def at_centre(x: float, y: float) -> Box:
    return Box(round(x - 20), round(y - 20), round(x + 20), round(y + 20))


def walk(
    counter: FootfallCounter,
    track_id: int,
    points: Sequence[tuple[float, float]],
    start: dt.datetime,
) -> list[str | None]:
    return [
        counter.observe(track_id, at_centre(x, y), start + i * SECOND)
        for i, (x, y) in enumerate(points)
    ]


def default_counter() -> FootfallCounter:
    return FootfallCounter((0.0, 0.5, 1.0, 0.5), FRAME)


def test_walking_down_across_the_line_is_an_entry_and_up_an_exit() -> None:
    counter = default_counter()
    down = walk(counter, 1, [(500, y) for y in range(150, 351, 25)], T0)
    assert down.count("entry") == 1 and set(down) == {None, "entry"}
    assert down.index("entry") == 5  # y = 275: the first point beyond the band
    up = walk(counter, 2, [(300, y) for y in range(350, 149, -50)], T0)
    assert up == [None, None, None, "exit", None]
    assert counter.drain() == {T0: FootfallCounts(entries=1, exits=1)}


def test_a_centre_wobbling_within_the_band_counts_nothing() -> None:
    counter = default_counter()
    wobble = [(500, 200)] + [(500, 250 + (9 if i % 2 else -9)) for i in range(50)]
    assert walk(counter, 1, wobble, T0) == [None] * 51
    assert counter.drain() == {}


def test_a_track_pacing_across_the_line_alternates_entries_and_exits() -> None:
    counter = default_counter()
    pacing = [(500, 200 if i % 2 else 300) for i in range(10)]  # starts below the line
    assert walk(counter, 1, pacing, T0) == [None] + ["exit", "entry"] * 4 + ["exit"]


def test_a_track_first_seen_on_the_line_counts_once_it_crosses_back() -> None:
    counter = default_counter()
    assert walk(counter, 1, [(500, 252), (500, 300), (500, 350)], T0) == [None] * 3
    assert walk(counter, 1, [(500, 200)], T0) == ["exit"]


def test_only_crossings_within_the_segment_count() -> None:
    """A door in the middle third of the frame: people passing beside it are not counted."""
    counter = FootfallCounter((1 / 3, 0.5, 2 / 3, 0.5), FRAME)
    assert walk(counter, 1, [(100, 200), (100, 300)], T0) == [None, None]
    assert walk(counter, 2, [(500, 200), (500, 300)], T0) == [None, "entry"]
    # A diagonal step whose crossing point (x = 340) is just inside the door counts.
    assert walk(counter, 3, [(300, 200), (380, 300)], T0) == [None, "entry"]
    assert walk(counter, 4, [(250, 200), (330, 300)], T0) == [None, None]


def test_entry_is_crossing_from_the_left_of_the_line_direction_to_its_right() -> None:
    """A vertical line drawn downwards: its left, as displayed, is the image's right half."""
    counter = FootfallCounter((0.5, 0.0, 0.5, 1.0), FRAME)
    assert walk(counter, 1, [(700, 250), (300, 250)], T0) == [None, "entry"]
    assert walk(counter, 2, [(300, 250), (700, 250)], T0) == [None, "exit"]


def test_dwell_and_visits_go_to_the_hour_the_track_ends_in() -> None:
    counter = default_counter()
    start = T0 - 40 * SECOND  # 09:59:20
    walk(counter, 1, [(500, 100)] * 30, start)  # last seen 09:59:49
    walk(counter, 2, [(600, 100)] * 71, start)  # last seen 10:00:30
    counter.end(1, T0 - SECOND)
    counter.end(2, T0 + 31 * SECOND)
    counter.end(3, T0)  # never observed: adds nothing
    assert counter.drain() == {
        T0 - HOUR: FootfallCounts(dwell_seconds=29, visits=1),
        T0: FootfallCounts(dwell_seconds=70, visits=1),
    }


def test_dwell_is_rounded_to_whole_seconds() -> None:
    counter = default_counter()
    counter.observe(1, at_centre(500, 100), T0)
    counter.observe(1, at_centre(500, 100), T0 + dt.timedelta(seconds=2.6))
    counter.end(1, T0 + 3 * SECOND)
    assert counter.drain() == {T0: FootfallCounts(dwell_seconds=3, visits=1)}


def test_drain_resets_but_keeps_live_tracks() -> None:
    counter = default_counter()
    walk(counter, 1, [(500, 200), (500, 300)], T0)
    assert counter.drain() == {T0: FootfallCounts(entries=1)}
    assert counter.drain() == {}
    counter.observe(1, at_centre(500, 150), T0 + 10 * SECOND)
    counter.end(1, T0 + 10 * SECOND)
    assert counter.drain() == {T0: FootfallCounts(exits=1, dwell_seconds=10, visits=1)}


def test_counts_fall_in_the_utc_hour_they_happen_in() -> None:
    counter = default_counter()
    tokyo = dt.timezone(dt.timedelta(hours=9))
    before = (T0 - 30 * SECOND).astimezone(tokyo)
    walk(counter, 1, [(500, 200), (500, 300)], before)  # entry at 09:59:31 UTC
    walk(counter, 1, [(500, 200)], T0 + 30 * SECOND)  # exit at 10:00:30 UTC
    hours = counter.drain()
    assert hours == {
        T0 - HOUR: FootfallCounts(entries=1),
        T0: FootfallCounts(exits=1),
    }
    assert all(hour.tzinfo == dt.UTC for hour in hours)


def test_naive_times_and_lines_without_length_are_refused() -> None:
    counter = default_counter()
    counter.observe(1, at_centre(500, 200), T0)
    with pytest.raises(InputError, match="timezone-aware"):
        counter.observe(1, at_centre(500, 300), T0.replace(tzinfo=None))
    with pytest.raises(ConfigError, match="no length"):
        FootfallCounter((0.5, 0.5, 0.5, 0.5), FRAME)


@pytest.mark.parametrize(
    "at",
    [
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone(-dt.timedelta(hours=23))),
    ],
)
def test_times_whose_utc_lies_outside_the_calendar_are_input_errors(at: dt.datetime) -> None:
    """Converting them to UTC overflows; that is bad input, not an internal error."""
    with pytest.raises(InputError, match="out of range"):
        hour_start(at)


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
