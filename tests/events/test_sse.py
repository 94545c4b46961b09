from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from consentcam.consent.context import Ledger
from consentcam.errors import InputError
from consentcam.events import sse
from consentcam.events.sse import KEEPALIVE, sse_message, tail_events
from consentcam.store.db import Store
from tests.support.events import place, record


def test_sse_message_format() -> None:
    text = sse_message(12, "recognition", {"seq": 12, "note": "two\nlines", "name": "Zoë"})
    assert text == (
        'id: 12\nevent: recognition\ndata: {"seq":12,"note":"two\\nlines","name":"Zoë"}\n\n'
    )
    data = text.splitlines()[2].removeprefix("data: ")
    assert json.loads(data)["note"] == "two\nlines"
    with pytest.raises(InputError, match="one line"):
        sse_message(1, "a\nb", {})


class FakeTime:
    """A clock that only moves when the stream sleeps; ``at`` runs actions at given times."""

    def __init__(self, actions: dict[float, Callable[[], object]] | None = None) -> None:
        self.now = 0.0
        self.actions = dict(actions or {})

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        for at in sorted(t for t in self.actions if t <= self.now):
            self.actions.pop(at)()


def _collect(stream: AsyncIterator[str]) -> list[str]:
    async def drain() -> list[str]:
        return [message async for message in stream]

    return asyncio.run(drain())


def test_tail_sends_the_backlog_in_order_then_ends_when_idle(ledger: Ledger) -> None:
    a, b = place(ledger, "alpha"), place(ledger, "beta")
    seqs = [record(ledger, w, n=i)[0] for i, w in enumerate([a, b, a])]
    fake = FakeTime()
    messages = _collect(
        tail_events(ledger.store, None, 0, max_idle_s=0, clock=fake.clock, sleep=fake.sleep)
    )
    assert [m.splitlines()[0] for m in messages] == [f"id: {s}" for s in seqs]
    only_a = _collect(
        tail_events(
            ledger.store, [a.site_id], seqs[0], max_idle_s=0, clock=fake.clock, sleep=fake.sleep
        )
    )
    assert [json.loads(m.splitlines()[2][6:])["seq"] for m in only_a] == [seqs[2]]


def test_tail_polls_for_new_events_and_keeps_the_connection_alive(ledger: Ledger) -> None:
    where = place(ledger)
    recorded: list[int] = []
    fake = FakeTime({20.0: lambda: recorded.append(record(ledger, where)[0])})
    messages = _collect(
        tail_events(
            ledger.store,
            None,
            0,
            interval_s=5,
            keepalive_s=15,
            max_idle_s=40,
            clock=fake.clock,
            sleep=fake.sleep,
        )
    )
    # idle 0-20 s: a keep-alive at 15 s; the event at 20 s; idle again until 60 s: keep-alives
    # at 35 s and 50 s, then the stream ends.
    assert messages[0] == KEEPALIVE
    assert messages[1].startswith(f"id: {recorded[0]}\nevent: recognition\n")
    assert messages[2:] == [KEEPALIVE, KEEPALIVE]
    assert fake.now == 60


class _Watch:
    """A stand-in for the process's outbox watch: the test says what the newest seq is."""

    def __init__(self, latest: int) -> None:
        self.latest = latest
        self.streams = 0

    @contextmanager
    def watching(self) -> Iterator[_Watch]:
        self.streams += 1
        try:
            yield self
        finally:
            self.streams -= 1


def test_with_a_watch_an_idle_stream_queries_only_when_the_outbox_moves(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = place(ledger)
    first = record(ledger, where)[0]
    queries: list[int] = []
    fetch = sse._fetch

    def counted(store: Store, site_ids: Sequence[str] | None, after: int) -> Any:
        queries.append(after)
        return fetch(store, site_ids, after)

    monkeypatch.setattr(sse, "_fetch", counted)
    watch = _Watch(first)
    later: list[int] = []

    def new_event() -> None:
        later.append(record(ledger, where)[0])
        watch.latest = later[-1]

    fake = FakeTime({10.0: new_event})
    messages = _collect(
        tail_events(
            ledger.store, None, 0, interval_s=1, max_idle_s=30, watch=watch,
            clock=fake.clock, sleep=fake.sleep,
        )
    )  # fmt: skip
    ids = [m.splitlines()[0] for m in messages if m.startswith("id:")]
    assert ids == [f"id: {first}", f"id: {later[0]}"]
    # 40 checks in all, two queries: the backlog, then the one new event; none while idle.
    assert queries == [0, first]
    assert watch.streams == 0  # the stream let go of the watch when it ended


def test_the_outbox_watch_follows_the_store_while_streams_are_open(ledger: Ledger) -> None:
    where = place(ledger)
    watch = sse.OutboxWatch(ledger.store, interval_s=0.01)
    with watch.watching():
        seq = record(ledger, where)[0]
        deadline = time.monotonic() + 10
        while watch.latest != seq and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watch.latest == seq
        thread = watch._thread
    assert thread is not None
    thread.join(5)
    assert not thread.is_alive()  # no stream open: no thread, no queries
