"""Server-sent events: the outbox as a ``text/event-stream``.

Each message's ``id:`` is the outbox seq, so a browser's EventSource reconnects with
``Last-Event-ID`` and resumes exactly after the last event it saw. A comment line every
``keepalive_s`` keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from consentcam.errors import InputError
from consentcam.events.outbox import event_document, events_after
from consentcam.store.db import Store

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


async def tail_events(
    store: Store,
    site_ids: Sequence[str] | None,
    after_seq: int,
    *,
    interval_s: float = 1.0,
    keepalive_s: float = 15.0,
    max_idle_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[str]:
    """Messages for the events after ``after_seq`` at ``site_ids`` (None: all sites), in seq
    order, then new ones as they are stored, polling every ``interval_s``.

    Runs until the client goes away; ``max_idle_s`` ends it after that long without an event
    (0: as soon as the backlog is sent), which tests and one-shot readers use."""
    idle_since = last_sent = clock()
    while True:
        # The query runs in a worker thread: the event loop keeps serving other clients.
        rows = await asyncio.to_thread(_fetch, store, site_ids, after_seq)
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
