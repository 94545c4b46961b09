"""The shop's accuracy from staff answers, on hand-made door alerts: counts, the Wilson interval,
per camera and week, the over-budget rule and the proposed threshold, the audited changes (and
the gallery deciding at the applied threshold), the counts the metrics read, and the
re-enrolment prompt."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger, site_by_name
from consentcam.consent.enrolment import enroll
from consentcam.consent.gallery import SiteGallery
from consentcam.consent.members import add_member
from consentcam.consent.rights import withdraw
from consentcam.consent.sites import add_camera, add_site
from consentcam.errors import InputError, NotFound
from consentcam.events.accuracy import (
    DEFAULT_DISMISSAL_BUDGET,
    answer_counts,
    calibration_with_accuracy,
    refresh_prompt,
    set_dismissal_budget,
    set_threshold_override,
    site_accuracy,
)
from consentcam.match.rates import wilson_interval
from consentcam.model_card import model_card
from consentcam.store.models import AuditEntry, GalleryVersion, Member
from consentcam.vision.faces import file_faces
from tests.support.events import door_alert

NOW = dt.datetime(2026, 12, 10, 12, 0, tzinfo=dt.UTC)  # a Thursday, ISO week 50
DAY = dt.timedelta(days=1)
CONFIRMED_A = [0.10, 0.12, 0.15, 0.18, 0.20, 0.22, 0.24, 0.26]
CONFIRMED_B = [0.27, 0.28]
DISMISSED = [0.30, 0.32]


def _shop(ledger: Ledger) -> dict[str, str]:
    """Site flagship with two door cameras and a count camera, and the door alerts of the
    module's scenario; another site with one dismissed alert. Camera name -> id."""
    add_site(ledger, "flagship", "eu")
    add_site(ledger, "outlet", "eu")
    cams = {
        name: add_camera(ledger, "flagship", name, f"{name}.mp4", mode, True).id
        for name, mode in (("door-a", "door"), ("door-b", "door"), ("entrance", "count"))
    }
    week49 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    week50 = dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC)
    for i, d in enumerate(CONFIRMED_A):
        door_alert(ledger, "flagship", cams["door-a"], "confirmed", week49 if i < 6 else week50, d)
    for d in DISMISSED:
        door_alert(ledger, "flagship", cams["door-a"], "dismissed", week50, d)
    door_alert(ledger, "flagship", cams["door-a"], "pending", NOW - dt.timedelta(hours=2), 0.2)
    door_alert(ledger, "flagship", cams["door-a"], "pending", NOW - dt.timedelta(seconds=60), 0.2)
    for d in CONFIRMED_B:  # week 46, the first day of the period
        door_alert(ledger, "flagship", cams["door-b"], "confirmed", NOW - 29.5 * DAY, d)
    # Not counted: before the period, not from a door, a staff decision's notice, another site.
    door_alert(ledger, "flagship", cams["door-a"], "confirmed", NOW - 31 * DAY, 0.1)
    door_alert(ledger, "flagship", cams["entrance"], None, NOW - DAY, 0.2)
    door_alert(ledger, "flagship", None, None, NOW - DAY, 0.2, kind="recognition.confirmed")
    door_alert(ledger, "outlet", None, "dismissed", NOW - DAY, 0.3)
    return cams


def _audit_entries(ledger: Ledger, action: str | None = None) -> list[AuditEntry]:
    with ledger.store.transaction() as s:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return list(s.execute(query).scalars())


def test_counts_rate_interval_cameras_and_weeks(ledger: Ledger) -> None:
    cams = _shop(ledger)
    audited = len(_audit_entries(ledger))
    r = site_accuracy(ledger, "flagship", now=NOW)
    assert len(_audit_entries(ledger)) == audited  # counts only: nothing about anyone is read

    assert (r["site"], r["days"]) == ("flagship", 30)
    assert (r["alerts"], r["confirmed"], r["dismissed"], r["unanswered"], r["waiting"]) == (
        14,
        10,
        2,
        1,
        1,
    )
    assert r["false_alert_rate"] == round(2 / 12, 4)
    lo, hi = wilson_interval(2, 12)
    assert r["ci95"] == [round(lo, 4), round(hi, 4)] == [0.047, 0.448]

    a, b = r["per_camera"]  # door cameras by name; the count camera raises no door alerts
    assert (a["camera"], a["camera_id"], b["camera"]) == ("door-a", cams["door-a"], "door-b")
    assert (a["alerts"], a["confirmed"], a["dismissed"], a["unanswered"], a["waiting"]) == (
        12,
        8,
        2,
        1,
        1,
    )
    assert a["false_alert_rate"] == 0.2 and a["ci95"] == [0.0567, 0.5098]  # Wilson, 2 of 10
    assert (b["alerts"], b["confirmed"], b["false_alert_rate"]) == (2, 2, 0.0)

    weeks = {w["week"]: w for w in r["per_week"]}
    assert list(weeks) == ["2026-W46", "2026-W47", "2026-W48", "2026-W49", "2026-W50"]
    assert weeks["2026-W46"]["start"] == "2026-11-09"
    assert [w["alerts"] for w in r["per_week"]] == [2, 0, 0, 6, 6]
    assert weeks["2026-W50"]["dismissed"] == 2 and weeks["2026-W47"]["false_alert_rate"] is None
    assert weeks["2026-W47"]["ci95"] == [0.0, 1.0]

    d = r["distances"]
    assert d["confirmed"]["count"] == 10 and d["confirmed"]["min"] == 0.1
    assert d["confirmed"]["max"] == 0.28 and d["dismissed"]["median"] == 0.31
    assert sum(d["histogram"]["confirmed"]) == 10 and sum(d["histogram"]["dismissed"]) == 2
    assert d["histogram"]["edges"][0] == 0.1 and d["histogram"]["edges"][-1] == 0.32

    card = model_card().track_threshold(1, None)  # nobody enrolled: a gallery of one
    assert r["threshold"] == r["model_card_threshold"] == round(card, 4)
    assert r["threshold_source"] == "model card" and r["threshold_override"] is None

    week = site_accuracy(ledger, "flagship", days=7, now=NOW)
    assert (week["alerts"], week["confirmed"], week["dismissed"]) == (6, 2, 2)
    assert [w["week"] for w in week["per_week"]] == ["2026-W49", "2026-W50"]


def test_over_budget_with_confidence_proposes_a_stricter_threshold(ledger: Ledger) -> None:
    _shop(ledger)
    r = site_accuracy(ledger, "flagship", now=NOW)
    # 2 of 12 dismissed: the interval's lower bound (4.7%) is above the default 2% budget.
    assert r["dismissal_budget"] == DEFAULT_DISMISSAL_BUDGET == 0.02
    assert r["budget_source"] == "default"
    assert r["over_budget"] is True and r["budget_status"] == "over"
    # Every dismissed alert matched further than every confirmed one: cut half way between.
    assert r["proposal"] == {
        "threshold": 0.29,
        "confirmed_kept": 1.0,
        "dismissed_share": 0.0,
        "dismissed_avoided": 2,
        "confirmed_lost": 0,
    }
    assert r["proposal_note"] is None

    report = calibration_with_accuracy(ledger, "flagship", now=NOW)
    assert report["gallery_members"] == 0 and "cameras" in report  # the calibration report ...
    assert report["accuracy"]["over_budget"] is True  # ... with what the answers say
    assert report["accuracy"]["proposed_threshold"] == 0.29
    assert report["accuracy"]["answered"] == 12


def test_a_dismissed_alert_among_the_members_own_leaves_nothing_to_propose(
    ledger: Ledger,
) -> None:
    add_site(ledger, "flagship", "eu")
    for d in [0.10, 0.12, 0.14, 0.30, 0.31]:
        door_alert(ledger, "flagship", None, "confirmed", NOW - DAY, d)
    door_alert(ledger, "flagship", None, "dismissed", NOW - DAY, 0.11)
    r = site_accuracy(ledger, "flagship", now=NOW)
    assert r["over_budget"] is True and r["proposal"] is None
    assert "refresh their photos at the kiosk" in r["proposal_note"]


def test_dismissal_budget_is_audited_and_changes_the_verdict(ledger: Ledger) -> None:
    _shop(ledger)
    r = set_dismissal_budget(ledger, "flagship", 0.2, now=NOW)
    # 2 of 12 with interval 4.7%-44.8% straddles 20%: more answers will tell.
    assert (r["dismissal_budget"], r["budget_source"]) == (0.2, "site")
    assert r["budget_status"] == "unclear" and not r["over_budget"] and r["proposal"] is None
    (entry,) = _audit_entries(ledger, "site.dismissal_budget")
    assert entry.details == {"site": "flagship", "before": None, "after": 0.2}
    for bad in (0.0, 1.0, -0.1, math.nan):
        with pytest.raises(InputError, match="dismissal budget"):
            set_dismissal_budget(ledger, "flagship", bad)
    assert len(_audit_entries(ledger, "site.dismissal_budget")) == 1
    assert set_dismissal_budget(ledger, "flagship", None, now=NOW)["budget_source"] == "default"


def test_applying_a_threshold_is_audited_and_judged_on_what_it_still_raises(
    ledger: Ledger,
) -> None:
    _shop(ledger)
    with ledger.store.transaction() as s:
        site_id = site_by_name(s, "flagship").id
        version = s.get(GalleryVersion, site_id)
        before = version.version if version else 0
    r = set_threshold_override(ledger, "flagship", 0.29, now=NOW)
    assert (r["threshold"], r["threshold_source"], r["threshold_override"]) == (
        0.29,
        "site override",
        0.29,
    )
    # The answers are what they were; judged on the alerts 0.29 would still raise (the ten
    # confirmed ones), the site is no longer over budget and nothing stricter is proposed.
    assert (r["confirmed"], r["dismissed"], r["false_alert_rate"]) == (10, 2, round(2 / 12, 4))
    assert (r["at_threshold"]["confirmed"], r["at_threshold"]["dismissed"]) == (10, 0)
    assert not r["over_budget"] and r["proposal"] is None
    (entry,) = _audit_entries(ledger, "site.threshold_override")
    assert entry.details["before"] is None and entry.details["after"] == 0.29
    assert entry.details["answers"]["dismissed"] == 2
    assert entry.details["answers"]["proposal"]["threshold"] == 0.29
    with ledger.store.transaction() as s:
        version = s.get(GalleryVersion, site_id)
        assert version is not None and version.version == before + 1  # workers refresh

    card = r["model_card_threshold"]
    for bad in (card, card + 0.1, 0.0, -1.0, math.nan):
        with pytest.raises(InputError, match="only makes the cameras stricter"):
            set_threshold_override(ledger, "flagship", bad)
    cleared = set_threshold_override(ledger, "flagship", None, now=NOW)
    assert cleared["threshold_source"] == "model card" and cleared["threshold"] == card
    assert len(_audit_entries(ledger, "site.threshold_override")) == 2


def test_the_gallery_decides_at_the_applied_threshold(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    add_site(ledger, "flagship", "eu")
    member = add_member(ledger, "flagship", "Member")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    enroll(ledger, member.id, [photos / "obama.jpg"])
    probe: np.ndarray = file_faces(photos / "obama2.jpg")[0].vector
    with ledger.store.transaction() as s:
        gallery = SiteGallery(ledger, site_by_name(s, "flagship"))
    gallery.refresh()
    seen = gallery.identify(probe, views=2)
    assert seen.member_id == member.id and seen.distance is not None
    assert seen.threshold == model_card().track_threshold(1, None)

    stricter = round(seen.distance - 0.02, 4)
    set_threshold_override(ledger, "flagship", stricter)
    assert gallery.refresh() is False  # no template changed, but the override is read
    missed = gallery.identify(probe, views=2)
    assert missed.member_id is None and missed.threshold == stricter
    # A still photo is held to the image threshold, which the override does not touch.
    assert gallery.identify(probe).threshold == model_card().identification_threshold(1)

    set_threshold_override(ledger, "flagship", None)
    gallery.refresh()
    assert gallery.identify(probe, views=2).member_id == member.id


def test_bad_input_and_unknown_sites(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")
    for days in (0, -1, 367):
        with pytest.raises(InputError, match="days must be"):
            site_accuracy(ledger, "flagship", days)
    with pytest.raises(NotFound, match="no site named 'nowhere'"):
        site_accuracy(ledger, "nowhere")
    with pytest.raises(NotFound):
        set_threshold_override(ledger, "nowhere", 0.2)
    empty = site_accuracy(ledger, "flagship", days=1, now=NOW)
    assert empty["alerts"] == 0 and empty["false_alert_rate"] is None
    assert empty["ci95"] == [0.0, 1.0] and empty["budget_status"] == "no answers"
    assert empty["per_camera"] == [] and not empty["over_budget"]


def test_answer_counts_per_site_for_the_metrics(ledger: Ledger) -> None:
    _shop(ledger)
    add_site(ledger, "quiet", "eu")
    counts = {c.site: (c.confirmed, c.dismissed) for c in answer_counts(ledger)}
    # All stored answers (the metric is a counter, not a window): the old one counts too.
    assert counts == {"flagship": (11, 2), "outlet": (0, 1), "quiet": (0, 0)}
    (only,) = answer_counts(ledger, "outlet")
    assert (only.tenant, only.site, only.dismissed) == (ledger.tenant, "outlet", 1)


def test_members_who_match_close_to_the_threshold_are_asked_to_refresh(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    add_site(ledger, "flagship", "eu")

    def enrolled(name: str) -> Member:
        member = add_member(ledger, "flagship", name)
        record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
        enroll(ledger, member.id, [photos / "obama.jpg"])
        return member

    def visits(member: Member, distances: list[float], start: dt.datetime) -> None:
        for i, d in enumerate(distances):
            door_alert(ledger, "flagship", None, "confirmed", start + i * DAY, d, member.id)

    def prompt(member: Member) -> str | None:
        with ledger.store.transaction() as s:
            found = refresh_prompt(s, s.get(Member, member.id))  # type: ignore[arg-type]
            return None if found is None else found.text

    drifting, steady, new, borderline = (
        enrolled(n) for n in ("Drifting", "Steady", "New", "Borderline")
    )
    threshold = site_accuracy(ledger, "flagship")["threshold"]  # for a gallery of four
    close, far = 0.9 * threshold, 0.5 * threshold
    visits(drifting, [far] * 5, NOW - 20 * DAY)
    visits(drifting, [close, close, close, far, far], NOW - 10 * DAY)
    text = prompt(drifting)
    assert text is not None and "ask to refresh the photos at the kiosk" in text
    assert "last 5 confirmed visits matched at a median 90% of the threshold" in text

    visits(steady, [close] * 5, NOW - 20 * DAY)
    visits(steady, [far, far, far, close, close], NOW - 10 * DAY)  # the latest five count
    assert prompt(steady) is None

    visits(new, [close] * 4, NOW - 10 * DAY)  # four visits are too few to tell
    door_alert(ledger, "flagship", None, "dismissed", NOW, close, new.id)  # not the member
    assert prompt(new) is None

    # The threshold in force is the measure: a stricter one brings the same distances closer.
    visits(borderline, [0.78 * threshold] * 5, NOW - 10 * DAY)
    assert prompt(borderline) is None
    set_threshold_override(ledger, "flagship", round(0.95 * threshold, 4))
    assert prompt(borderline) is not None

    # Nobody is asked for photos after withdrawing: their templates are gone.
    withdraw(ledger, drifting.id)
    assert prompt(drifting) is None
