from __future__ import annotations

import pytest

from consentcam.auth import ratelimit
from consentcam.auth.ratelimit import RateLimits, TokenBuckets
from tests.support.auth import FakeClock


def test_a_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    limit = TokenBuckets(per_minute=6, burst=3, clock=clock)
    assert [limit.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("a") == pytest.approx(10.0)  # one token every 10 s
    assert limit.take("b") == 0.0  # keys are independent
    clock.advance(5)
    assert limit.take("a") == pytest.approx(5.0)
    clock.advance(5)
    assert limit.take("a") == 0.0
    clock.advance(3600)
    assert [limit.take("a") for _ in range(4)][-1] > 0  # never more than the burst


def test_named_limits_keep_their_first_settings() -> None:
    limits = RateLimits(FakeClock())
    enrol = limits.get("enrol", per_minute=10)
    assert limits.get("enrol", per_minute=99) is enrol and enrol.burst == 10
    assert limits.get("login", per_minute=5, burst=2).burst == 2
    with pytest.raises(ValueError):
        TokenBuckets(per_minute=0, burst=1)


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 10)
    clock = FakeClock()
    limit = TokenBuckets(per_minute=60, burst=1, clock=clock)
    for i in range(10):
        limit.take(f"old{i}")
    clock.advance(2)  # the old buckets have refilled: nothing worth keeping
    limit.take("new")
    assert len(limit._buckets) == 1
    for i in range(30):
        limit.take(f"busy{i}")
    assert len(limit._buckets) <= 10
