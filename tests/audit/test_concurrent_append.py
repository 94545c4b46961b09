"""Audit appends from concurrent transactions, as the API makes them under load: every staff
read of a member card appends a ``member.view`` entry after reading the member (found by
benchmarks/bench_api_load.py: on SQLite, two card reads at once both took the same last entry and
the second failed with ``UNIQUE constraint failed: audit.seq``, a 500)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from consentcam.audit.chain import append, verify
from consentcam.config import Settings
from consentcam.store.db import open_store
from consentcam.store.models import AuditEntry

THREADS = 6
APPENDS = 15


def test_concurrent_read_then_append_transactions_all_commit_in_one_chain(
    store_settings: Settings,
) -> None:
    store = open_store(store_settings, create=True)
    with store.transaction() as s:
        append(s, actor="test", action="genesis")
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def reader(n: int) -> None:
        start.wait()
        try:
            for i in range(APPENDS):
                with store.transaction() as s:
                    # A read first, as the member card does, then the append.
                    s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
                    append(s, actor=f"user:{n}", action="member.view", subject=f"m{i}")
        except BaseException as exc:  # reported below, with the thread's failure
            failures.append(exc)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with store.transaction() as s:
        result = verify(s)
    assert result.ok, result.reason
    assert result.entries == 1 + THREADS * APPENDS
    store.engine.dispose()
