"""Anonymous footfall: entries, exits and dwell per camera, counted from tracks in hourly buckets.

A track's box centre crossing the camera's counting line is an entry or an exit. The line is a
directed segment ``x1,y1 -> x2,y2`` in fractions of the frame. Crossing from its left to its right,
as the image is displayed (y grows downwards), is an entry; the other way is an exit. With the
default line ``(0, 0.5, 1, 0.5)``, drawn left to right across the middle, an entry is a centre
moving from the top half to the bottom half: walking towards a camera mounted above a door.

Detector jitter makes a centre standing on the line wobble across it. A hysteresis band stops that
from counting: a centre is on a side only once it is more than ``band`` (2% of the frame's shorter
side by default) from the line, and a crossing counts when the side changes, provided the path
crossed the line within the segment. So a track counts at most one crossing per real passage, and
its entries and exits alternate.

When a track ends, its dwell (first to last observation, rounded to whole seconds) and one visit
are added to the hour it ended in. Only these counts leave the counter: track ids, boxes and times
stay in memory and are forgotten when the track ends, and nothing per person is ever stored.

Counting only: the counts reach the store through ``consentcam.pipeline.footfall``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

from consentcam.errors import ConfigError, InputError
from consentcam.vision.records import Box

BAND = 0.02  # hysteresis half-width, as a fraction of the frame's shorter side
COUNTS = ("entries", "exits", "dwell_seconds", "visits")  # FootfallCounts' fields, in order


@dataclass(frozen=True, slots=True)
class FootfallCounts:
    entries: int = 0
    exits: int = 0
    dwell_seconds: int = 0
    visits: int = 0

    def __add__(self, other: FootfallCounts) -> FootfallCounts:
        return FootfallCounts(
            self.entries + other.entries,
            self.exits + other.exits,
            self.dwell_seconds + other.dwell_seconds,
            self.visits + other.visits,
        )


@dataclass(slots=True)
class _Passage:
    """What the counter remembers of one live track: in memory only, never stored."""

    first_at: dt.datetime
    last_at: dt.datetime
    point: tuple[float, float]
    offset: float  # signed distance from the line, in pixels; > 0 is the entry (right) side
    side: int = 0  # -1 or +1 once the centre has left the band; 0 before
    on_segment: bool = False  # whether the latest crossing of the line was within the segment


class FootfallCounter:
    """Counts one camera's tracks. ``line`` is in fractions of (width, height); ``frame_size`` is
    (width, height) in the pixels the boxes are given in (the detection frame's, when detection
    runs on a scaled frame)."""

    def __init__(
        self,
        line: tuple[float, float, float, float],
        frame_size: tuple[int, int],
        *,
        band: float = BAND,
    ) -> None:
        width, height = frame_size
        x1, y1, x2, y2 = line
        self._start = (x1 * width, y1 * height)
        self._direction = ((x2 - x1) * width, (y2 - y1) * height)
        self._length = math.hypot(*self._direction)
        if width <= 0 or height <= 0 or self._length == 0:
            raise ConfigError(f"counting line {line} has no length in a {width}x{height} frame")
        self._band = band * min(width, height)
        self._tracks: dict[int, _Passage] = {}
        self._hours: dict[dt.datetime, FootfallCounts] = {}

    def observe(self, track_id: int, box: Box, at: dt.datetime) -> Literal["entry", "exit"] | None:
        """Record a track's box in a frame; returns the crossing it completed, if any."""
        point = box.center
        offset = self._offset(point)
        passage = self._tracks.get(track_id)
        if passage is None:
            self._tracks[track_id] = _Passage(at, at, point, offset, self._side(offset, 0))
            return None
        if (offset > 0) != (passage.offset > 0):
            passage.on_segment = self._crosses_segment(passage.point, passage.offset, point, offset)
        side = self._side(offset, passage.side)
        crossing: Literal["entry", "exit"] | None = None
        if passage.side and side != passage.side and passage.on_segment:
            crossing = "entry" if side > 0 else "exit"
            self._add(at, FootfallCounts(entries=int(side > 0), exits=int(side < 0)))
        passage.side, passage.point, passage.offset, passage.last_at = side, point, offset, at
        return crossing

    def end(self, track_id: int, at: dt.datetime) -> None:
        """Add the track's dwell and one visit to the hour ``at`` falls in, and forget it. A track
        that was never observed (never confirmed) adds nothing."""
        passage = self._tracks.pop(track_id, None)
        if passage is not None:
            dwell = round((passage.last_at - passage.first_at).total_seconds())
            self._add(at, FootfallCounts(dwell_seconds=dwell, visits=1))

    def drain(self) -> dict[dt.datetime, FootfallCounts]:
        """Counts since the last drain, keyed by the start of their UTC hour; starts afresh."""
        hours, self._hours = self._hours, {}
        return hours

    def _offset(self, point: tuple[float, float]) -> float:
        """Signed distance from the line: the 2-D cross product of its direction and the point,
        positive on its right as displayed (image y points down)."""
        dx, dy = self._direction
        return (dx * (point[1] - self._start[1]) - dy * (point[0] - self._start[0])) / self._length

    def _side(self, offset: float, previous: int) -> int:
        if offset > self._band:
            return 1
        if offset < -self._band:
            return -1
        return previous

    def _crosses_segment(
        self, a: tuple[float, float], a_offset: float, b: tuple[float, float], b_offset: float
    ) -> bool:
        """Whether the path a -> b meets the line within the segment's two ends."""
        share = a_offset / (a_offset - b_offset)
        x, y = a[0] + share * (b[0] - a[0]), a[1] + share * (b[1] - a[1])
        dx, dy = self._direction
        along = ((x - self._start[0]) * dx + (y - self._start[1]) * dy) / self._length**2
        return 0.0 <= along <= 1.0

    def _add(self, at: dt.datetime, counts: FootfallCounts) -> None:
        hour = hour_start(at)
        self._hours[hour] = self._hours.get(hour, FootfallCounts()) + counts


def hour_start(at: dt.datetime) -> dt.datetime:
    """The start of the UTC hour ``at`` falls in; ``at`` must be timezone-aware."""
    return as_utc(at).replace(minute=0, second=0, microsecond=0)


def as_utc(at: dt.datetime) -> dt.datetime:
    """``at`` in UTC; a naive or out-of-range time is an InputError."""
    # A naive time would be read as the host's local time: refuse it rather than guess.
    if at.tzinfo is None:
        raise InputError("footfall needs timezone-aware times (UTC)")
    try:
        return at.astimezone(dt.UTC)
    except OverflowError:
        # Within a day of Python's first or last date, UTC lies outside the calendar.
        raise InputError(f"footfall time {at.isoformat()} is out of range") from None
