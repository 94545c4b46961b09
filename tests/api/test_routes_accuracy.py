"""The accuracy report over the API, the admin's audited threshold and budget, and the summary in
the calibration report."""

from __future__ import annotations

import datetime as dt

from consentcam.consent.context import camera_by_ref
from consentcam.store.models import utcnow
from tests.support.events import door_alert
from tests.support.seed import World

CONFIRMED = [0.10, 0.12, 0.15, 0.18, 0.20, 0.22, 0.24, 0.26, 0.27, 0.28]


def _answers(world: World) -> None:
    """Ten confirmed and two dismissed door alerts at acme's north, one left unanswered."""
    ledger, now = world.ledgers["acme"], utcnow()
    with ledger.store.transaction() as s:
        door = camera_by_ref(s, "door", "north", ledger.tenant_id(s)).id
    for d in CONFIRMED:
        door_alert(ledger, "north", door, "confirmed", now - dt.timedelta(days=3), d)
    for d in (0.30, 0.32):
        door_alert(ledger, "north", door, "dismissed", now - dt.timedelta(days=1), d)
    door_alert(ledger, "north", door, "pending", now - dt.timedelta(hours=1), 0.2)


def test_the_report_counts_the_sites_answers(world: World) -> None:
    _answers(world)
    auditor = world.principal("auditor")
    response = world.call(auditor, "GET", "/sites/north/accuracy")
    assert response.status_code == 200, response.text
    r = response.json()
    assert (r["site"], r["days"], r["alerts"], r["confirmed"], r["dismissed"]) == (
        "north",
        30,
        13,
        10,
        2,
    )
    assert (r["unanswered"], r["false_alert_rate"], r["ci95"]) == (1, 0.1667, [0.047, 0.448])
    assert r["over_budget"] is True and r["proposal"]["threshold"] == 0.29
    (door,) = r["per_camera"]
    assert (door["camera"], door["alerts"], door["dismissed"]) == ("door", 13, 2)
    assert sum(w["alerts"] for w in r["per_week"]) == 13
    two = world.call(auditor, "GET", "/sites/north/accuracy", params={"days": 2}).json()
    assert (two["alerts"], two["confirmed"]) == (3, 0)
    assert world.call(auditor, "GET", "/sites/south/accuracy").json()["alerts"] == 0
    for days in (0, 367, "many"):
        bad = world.call(auditor, "GET", "/sites/north/accuracy", params={"days": days})
        assert bad.status_code == 422, days

    calibration = world.call(auditor, "GET", "/sites/north/calibration").json()["accuracy"]
    assert calibration["over_budget"] is True and calibration["proposed_threshold"] == 0.29
    assert calibration["answered"] == 12 and calibration["threshold_override"] is None


def test_admins_apply_the_proposed_threshold_and_set_the_budget(world: World) -> None:
    _answers(world)
    admin, staff, auditor = (world.principal(r) for r in ("admin", "staff", "auditor"))
    proposed = world.call(auditor, "GET", "/sites/north/accuracy").json()["proposal"]["threshold"]

    for who in (staff, auditor):
        denied = world.call(
            who, "PUT", "/sites/north/accuracy/threshold", json={"threshold": proposed}
        )
        assert denied.status_code == 403
    applied = world.call(
        admin, "PUT", "/sites/north/accuracy/threshold", json={"threshold": proposed}
    )
    assert applied.status_code == 200, applied.text
    r = applied.json()
    assert (r["threshold"], r["threshold_source"]) == (proposed, "site override")
    assert r["over_budget"] is False and r["at_threshold"]["dismissed"] == 0
    calibration = world.call(auditor, "GET", "/sites/north/calibration").json()["accuracy"]
    assert calibration["threshold_in_force"] == calibration["threshold_override"] == proposed

    before = world.rows()
    looser = world.call(admin, "PUT", "/sites/north/accuracy/threshold", json={"threshold": 0.9})
    assert looser.status_code == 400 and "only makes the cameras stricter" in looser.json()["error"]
    text = world.call(admin, "PUT", "/sites/north/accuracy/threshold", json={"threshold": "0.2"})
    assert text.status_code == 422  # a number in a body is a JSON number
    assert world.rows() == before

    budget = world.call(
        admin, "PUT", "/sites/north/accuracy/budget", json={"dismissal_budget": 0.25}
    )
    assert budget.status_code == 200 and budget.json()["budget_source"] == "site"
    refused = world.call(admin, "PUT", "/sites/north/accuracy/budget", json={"dismissal_budget": 1})
    assert refused.status_code == 400 and "between 0 and 1" in refused.json()["error"]
    cleared = world.call(admin, "PUT", "/sites/north/accuracy/threshold", json={"threshold": None})
    assert cleared.json()["threshold_source"] == "model card"

    audit = world.call(world.principal("owner"), "GET", "/audit").json()["entries"]
    mine = ("site.threshold_override", "site.dismissal_budget")
    site_changes = [e for e in audit if e["action"] in mine]
    assert [(e["action"], e["details"]["after"]) for e in site_changes] == [
        ("site.threshold_override", proposed),
        ("site.dismissal_budget", 0.25),
        ("site.threshold_override", None),
    ]
    assert {e["actor"] for e in site_changes} == {admin.actor}
