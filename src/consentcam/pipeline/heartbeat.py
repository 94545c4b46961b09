"""A camera worker's health in the store: one row per camera, overwritten every few seconds.

The worker's heartbeat thread writes frames per second, frames read and dropped, reconnects, the
last frame's time and the last error in words; the supervisor adds the restarts it makes. The API
and the CLI read the row (``consent.health``) and call the camera offline when it goes stale, so
an owner sees from the system of record, on SQLite and PostgreSQL alike, that the door camera went
dark. Numbers and words only, never face data (privacy invariant 2), and an error's URLs are
redacted (``net.redacted_url``) before they are stored.

A heartbeat is worth less than a frame: while the store is away (the worker's ``Outage``) none is
written and the worker carries on; the camera shows offline until the store is back.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from consentcam.net import redacted_url
from consentcam.store.db import Store, dialect_insert
from consentcam.store.models import CameraHeartbeat, utcnow

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 300  # the column's width
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


@dataclass(frozen=True, slots=True)
class Beat:
    """What one heartbeat says: counters since the worker started, and times."""

    fps: float  # frames processed per second over the last interval
    frames: int  # frames processed since the worker started
    dropped: int
    reconnects: int
    last_frame_at: dt.datetime | None
    last_error: str | None  # None: keep the one stored (an error stays visible until replaced)


def error_words(text: str) -> str:
    """An error fit to store and show: every URL in it as ``scheme://host[:port]/…`` (a
    camera's stream URL carries its password), one line, at most MAX_ERROR_CHARS."""
    one_line = " ".join(_URL.sub(lambda m: redacted_url(m.group(0)), text).split())
    return one_line[:MAX_ERROR_CHARS]


def write_beat(session: Session, camera_id: str, beat: Beat, at: dt.datetime) -> None:
    """Upsert the camera's row (INSERT .. ON CONFLICT DO UPDATE: one statement on SQLite and
    PostgreSQL, so the supervisor's restart count, written beside it, is never lost)."""
    values: dict[str, object] = {
        "fps": round(beat.fps, 2),
        "frames": beat.frames,
        "dropped": beat.dropped,
        "reconnects": beat.reconnects,
        "last_frame_at": beat.last_frame_at,
        "updated_at": at,
    }
    if beat.last_error is not None:
        values["last_error"] = error_words(beat.last_error)
        values["error_at"] = at
    _upsert(session, camera_id, values, {name: value for name, value in values.items()})


def record_exit(
    session: Session, camera_id: str, error: str, at: dt.datetime, *, restart: bool
) -> None:
    """The supervisor saw the camera's worker exit: say why, and count the restart it will
    make. ``updated_at`` is left alone (the supervisor's word is not the worker's heartbeat); a
    row created here starts stale."""
    words = error_words(error)
    table = CameraHeartbeat.__table__.c
    _upsert(
        session,
        camera_id,
        {"restarts": int(restart), "last_error": words, "error_at": at, "updated_at": _NEVER},
        {"restarts": table.restarts + int(restart), "last_error": words, "error_at": at},
    )


# A row the supervisor creates before any heartbeat: older than any staleness limit.
_NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _upsert(
    session: Session, camera_id: str, insert: dict[str, object], update: dict[str, object]
) -> None:
    row = {"fps": 0.0, "frames": 0, "dropped": 0, "reconnects": 0, "restarts": 0, **insert}
    statement = dialect_insert(session)(CameraHeartbeat).values(camera_id=camera_id, **row)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[CameraHeartbeat.__table__.c.camera_id], set_=update
        )
    )


class HeartbeatThread:
    """Writes a camera's heartbeat every ``interval_s`` from a background thread, so a worker
    blocked on a stalled stream still says it is alive (and why it sees no frames).

    ``sample`` gives the counters now; ``store_ok`` says whether the store is worth trying (the
    worker's outage state); ``failed`` is told of a store error (the worker's outage handling).
    A failure never reaches the frame loop."""

    def __init__(
        self,
        write: Callable[[Beat], None],
        sample: Callable[[], tuple[int, int, int, dt.datetime | None, str | None]],
        *,
        interval_s: float,
        store_ok: Callable[[], bool] = lambda: True,
        failed: Callable[[SQLAlchemyError], None] = lambda exc: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._sample = sample
        self._interval = interval_s
        self._store_ok = store_ok
        self._failed = failed
        self._clock = clock
        self._done = threading.Event()
        self._last: tuple[float, int] | None = None
        self._error_sent: str | None = None
        self._gone = False  # the camera's row was removed: nothing to write for

    def beat(self) -> None:
        """Write one heartbeat now (also called once at the end, with the final counters)."""
        frames, dropped, reconnects, last_frame_at, error = self._sample()
        now = self._clock()
        fps = 0.0
        if self._last is not None and now > self._last[0]:
            fps = (frames - self._last[1]) / (now - self._last[0])
        self._last = (now, frames)
        if not self._store_ok():
            return
        if self._gone:
            return
        new_error = error if error is not None and error != self._error_sent else None
        try:
            self._write(Beat(fps, frames, dropped, reconnects, last_frame_at, new_error))
        except IntegrityError:
            # The camera was removed while its worker runs: the store is fine (no outage to
            # report), there is just no camera to write for until the worker stops.
            self._gone = True
            log.warning("camera removed from the store; its heartbeat stops")
            return
        except SQLAlchemyError as exc:
            self._failed(exc)
            return
        if new_error is not None:
            self._error_sent = new_error

    def _run(self) -> None:
        while not self._done.wait(self._interval):
            try:
                self.beat()
            except Exception:  # a bug here must not end the heartbeat or the worker
                log.exception("heartbeat failed")

    @contextmanager
    def running(self) -> Iterator[None]:
        self.beat_safely()
        thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._done.set()
            thread.join(self._interval + 5)
            self.beat_safely()  # the final counters

    def beat_safely(self) -> None:
        try:
            self.beat()
        except Exception:
            log.exception("heartbeat failed")


def beat_writer(store: Store, camera_id: str) -> Callable[[Beat], None]:
    """A ``write`` for ``HeartbeatThread``: the camera's row in a transaction of its own."""

    def write(beat: Beat) -> None:
        with store.transaction() as s:
            write_beat(s, camera_id, beat, utcnow())

    return write
