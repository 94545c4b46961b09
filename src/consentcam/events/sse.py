"""Server-sent events: the outbox as a ``text/event-stream``.

Each message's ``id:`` is the outbox seq, so a browser's EventSource reconnects with
``Last-Event-ID`` and resumes exactly after the last event it saw. A comment line every
``keepalive_s`` keeps proxies from closing an idle stream.

An API process shares one ``OutboxWatch`` between its streams: a thread reads the outbox's
newest seq a few times a second, and a stream queries for its events only when that has moved
past what it last checked. Without it every open stream queried the store every second (50 idle
dashboards, 50 queries a second, in ``benchmarks/bench_api_load.py``), and could not poll more
often to deliver sooner.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from consentcam.errors import ConsentcamError, InputError
from consentcam.events.outbox import event_document, events_after
from consentcam.store.db import Store
from consentcam.store.models import OutboxEntry
from consentcam.store.outage import Outage

log = logging.getLogger(__name__)

KEEPALIVE = ": keep-alive\n\n"
BATCH = 100


def sse_message(seq: int, kind: str, data: dict[str, Any]) -> str:
    """One event in the text/event-stream format: ``id``, ``event`` and one ``data`` line."""
    if "\n" in kind or "\r" in kind:
        raise InputError(f"event kind {kind!r} must be one line")
    # json.dumps escapes control characters, so the data is always a single line.
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {seq}\nevent: {kind}\ndata: {body}\n\n"


def _fetch(
    store: Store, site_ids: Sequence[str] | None, after_seq: int
) -> list[tuple[int, dict[str, Any]]]:
    with store.transaction() as s:
        return [
            (seq, event_document(seq, e)) for seq, e in events_after(s, site_ids, after_seq, BATCH)
        ]


class SeqWatch(Protocol):
    """The newest outbox seq known, kept current by someone else while ``watching``."""

    latest: int

    def watching(self) -> AbstractContextManager[object]: ...


class OutboxWatch:
    """The outbox's newest seq, read every ``interval_s`` by one thread for all the streams of
    a process. The thread runs while a stream is open and ends after the last one closes."""

    def __init__(self, store: Store, interval_s: float = 0.25) -> None:
        self.store = store
        self.interval_s = interval_s
        self.latest = 0
        self._streams = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._outage = Outage(log, "event streams", "streams wait")

    @contextmanager
    def watching(self) -> Iterator[OutboxWatch]:
        """Held by a stream while it is open."""
        with self._lock:
            self._streams += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbox-watch", daemon=True)
                self._thread.start()
        try:
            yield self
        finally:
            with self._lock:
                self._streams -= 1

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._streams == 0:
                    self._thread = None
                    return
            try:
                with self.store.transaction() as s:
                    self.latest = int(s.execute(select(func.max(OutboxEntry.seq))).scalar() or 0)
            except (SQLAlchemyError, ConsentcamError) as exc:  # an outage: streams just wait
                self._outage.failed(exc)
            else:
                self._outage.succeeded()
            time.sleep(self.interval_s)


async def tail_events(
    store: Store,
    site_ids: Sequence[str] | None,
    after_seq: int,
    *,
    interval_s: float = 1.0,
    keepalive_s: float = 15.0,
    max_idle_s: float | None = None,
    watch: SeqWatch | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[str]:
    """Messages for the events after ``after_seq`` at ``site_ids`` (None: all sites), in seq
    order, then new ones as they are stored, checking every ``interval_s``: with ``watch``, its
    newest seq (in memory; the store is queried only when it moved), else the store itself.

    Runs until the client goes away; ``max_idle_s`` ends it after that long without an event
    (0: as soon as the backlog is sent), which tests and one-shot readers use."""
    with watch.watching() if watch is not None else nullcontext():
        idle_since = last_sent = clock()
        checked = -1  # the outbox seq up to which this stream has looked: nothing yet
        while True:
            rows: list[tuple[int, dict[str, Any]]] = []
            top = watch.latest if watch is not None else None
            if top is None or top > checked:
                # The query runs in a worker thread: the event loop keeps serving other clients.
                rows = await asyncio.to_thread(_fetch, store, site_ids, after_seq)
                if top is not None and len(rows) < BATCH:
                    # Everything stored up to ``top`` was committed before the query began.
                    checked = max(checked, top)
            for seq, document in rows:
                yield sse_message(seq, document["kind"], document)
                after_seq = seq
            now = clock()
            if rows:
                idle_since = last_sent = now
                if len(rows) == BATCH:
                    continue  # more backlog waiting: no pause
            if max_idle_s is not None and now - idle_since >= max_idle_s:
                return
            if now - last_sent >= keepalive_s:
                yield KEEPALIVE
                last_sent = now
            await sleep(interval_s)
