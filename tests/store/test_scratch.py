"""Dropping a scratch database outlasts a server that refuses for a moment (an autovacuum worker
in it, which FORCE may not end for a role that is not a superuser), and still reports a refusal
that lasts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from consentcam.store.scratch import drop_database

REFUSAL = sa.exc.ProgrammingError(
    "DROP DATABASE", {}, Exception("must be a member of the role whose process is being terminated")
)


class _Admin:
    """An autocommit engine whose server refuses the first ``refusals`` drops."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.statements: list[str] = []

    @contextmanager
    def connect(self) -> Iterator[_Admin]:
        yield self

    def execute(self, statement: Any) -> None:
        self.statements.append(str(statement))
        if len(self.statements) <= self.refusals:
            raise REFUSAL


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_drop_refused_for_a_moment_is_retried() -> None:
    admin, clock = _Admin(refusals=3), _Clock()
    drop_database(admin, "scratch_x", sleep=clock.sleep, clock=clock.time)
    assert admin.statements == ['DROP DATABASE IF EXISTS "scratch_x" WITH (FORCE)'] * 4
    assert clock.now == pytest.approx(0.6)


def test_a_drop_refused_for_good_raises_after_the_patience() -> None:
    admin, clock = _Admin(refusals=10**6), _Clock()
    with pytest.raises(sa.exc.ProgrammingError, match="must be a member"):
        drop_database(admin, "scratch_x", patience_s=5, sleep=clock.sleep, clock=clock.time)
    assert 5 <= clock.now < 5.3
