"""The door-alert answer counters ``consentcam run`` exposes: read from the store at each scrape
(staff answer through the API, in another process), counts only."""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client import generate_latest
from sqlalchemy.exc import OperationalError

from consentcam.consent.context import Ledger
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_site
from consentcam.events.staff import confirm_event
from consentcam.pipeline.metrics import AnswerMetrics, WorkerMetrics, metrics_registry
from consentcam.store.models import utcnow
from tests.support.events import door_alert


def _scrape(*collectors: AnswerMetrics) -> str:
    return generate_latest(metrics_registry(WorkerMetrics(), *collectors)).decode()


def _line(metric: str, ledger: Ledger, site: str, value: float) -> str:
    labels = f'site="{site}",tenant="{ledger.tenant}"'
    return f"consentcam_door_alerts_{metric}_total{{{labels}}} {value}"


def test_confirmed_and_dismissed_door_alerts_are_counted_per_site(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")
    add_site(ledger, "outlet", "eu")
    member = add_member(ledger, "flagship", "Ada Lovelace")
    at = utcnow() - dt.timedelta(minutes=1)
    pending = [
        door_alert(ledger, "flagship", None, "pending", at, 0.2, member.id) for _ in range(4)
    ]
    metrics = AnswerMetrics(ledger)
    text = _scrape(metrics)
    assert _line("confirmed", ledger, "flagship", 0.0) in text
    assert _line("dismissed", ledger, "outlet", 0.0) in text

    # Staff answer through the library the API calls: the next scrape counts them.
    for event_id, confirm in zip(pending, (True, True, False, True), strict=True):
        confirm_event(ledger, event_id, confirm=confirm)
    door_alert(ledger, "outlet", None, "dismissed", at, 0.3)
    door_alert(ledger, "outlet", None, None, at, 0.3)  # not from a door: no answer to count
    text = _scrape(metrics)
    assert _line("confirmed", ledger, "flagship", 3.0) in text
    assert _line("dismissed", ledger, "flagship", 1.0) in text
    assert _line("dismissed", ledger, "outlet", 1.0) in text
    assert "# TYPE consentcam_door_alerts_confirmed_total counter" in text
    # Counts only: nothing about the member reaches the metrics (privacy invariant 2).
    assert "Ada" not in text and member.id not in text and pending[0] not in text

    only = _scrape(AnswerMetrics(ledger, "outlet"))
    assert _line("dismissed", ledger, "outlet", 1.0) in only and "flagship" not in only


def test_a_store_outage_leaves_the_counts_out_of_the_scrape(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def away(*_: object) -> None:
        raise OperationalError("SELECT", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr("consentcam.pipeline.metrics.answer_counts", away)
    metrics = AnswerMetrics(ledger)
    text = _scrape(metrics)
    _scrape(metrics)
    assert "consentcam_door_alerts" not in text
    assert "consentcam_camera_fps" in text  # the cameras' figures still come
    warnings = [r for r in caplog.records if "answer metrics" in r.getMessage()]
    assert len(warnings) == 1  # logged once per outage, not per scrape
