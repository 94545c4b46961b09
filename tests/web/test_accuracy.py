"""The dashboard's Accuracy section in headless Chromium: the counts staff answers make, the
weekly chart and per-camera table, the budget verdict, an owner applying the proposed threshold
(asked first, audited) while an auditor only reads; and the member card's prompt to refresh
photos at the kiosk."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from consentcam.consent.consents import record_consent
from consentcam.consent.enrolment import enroll
from consentcam.consent.members import add_member
from consentcam.model_card import model_card
from consentcam.store.models import AuditEntry, Site, utcnow
from tests.support.events import door_alert
from tests.web.support import SITE, Browser, Server, expect, login

CONFIRMED = [0.10, 0.12, 0.15, 0.18, 0.20, 0.22, 0.24, 0.26, 0.27, 0.28]


def _answers(server: Server) -> None:
    """Ten confirmed, two dismissed and one unanswered door alert at the door camera."""
    door, now = server.cameras["door"], utcnow()
    for d in CONFIRMED:
        door_alert(server.ledger, SITE, door, "confirmed", now - dt.timedelta(days=2), d)
    for d in (0.30, 0.32):
        door_alert(server.ledger, SITE, door, "dismissed", now - dt.timedelta(days=1), d)
    door_alert(server.ledger, SITE, door, "pending", now - dt.timedelta(hours=1), 0.2)


def test_accuracy_panel_shows_the_answers_and_applies_the_proposal(
    server: Server, open_browser: Callable[..., Browser]
) -> None:
    _answers(server)
    owner = open_browser()
    page = owner.page
    login(owner, "olga")
    page.get_by_role("tab", name="Accuracy").click()
    panel = page.get_by_role("tabpanel", name="Accuracy")
    expect(panel).to_be_visible()
    body = panel.locator("#accuracy-body")
    facts = body.locator("dl.facts").first
    expect(facts).to_contain_text("Door alerts13")
    expect(facts).to_contain_text("Confirmed (it was the member)10")
    expect(facts).to_contain_text("Dismissed (it was not)2")
    expect(facts).to_contain_text("Unanswered (no answer within 10 minutes)1")
    expect(facts).to_contain_text("16.7 % (95 % interval 4.7 % to 44.8 %)")
    expect(body.locator("#accuracy-budget-status")).to_contain_text("Over budget")
    chart = body.get_by_role("img", name=re.compile("Door alerts per ISO week"))
    expect(chart).to_be_visible()
    expect(chart.locator('rect[data-series="Dismissed"]')).to_have_count(1)
    cameras = body.get_by_role("table", name=re.compile("Door alerts per camera"))
    expect(cameras.get_by_role("row", name=re.compile("door"))).to_contain_text("13")
    expect(body.get_by_role("table", name=re.compile("Match distances"))).to_contain_text("0.3100")
    owner.shot("accuracy-over-budget")

    # The period is a labelled control: a week still holds every alert of this shop.
    body.get_by_label("Period").select_option("7")
    expect(body.get_by_role("heading", name=re.compile("last 7 days"))).to_be_visible()
    expect(body.get_by_label("Period")).to_be_focused()

    # The owner applies the proposed threshold from the keyboard: asked first, then audited.
    apply = body.get_by_role("button", name="Apply threshold 0.2900")
    apply.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("only at a match distance of 0.2900 or less")
    dialog.get_by_role("button", name="Apply threshold 0.2900").click()
    status = panel.locator("#accuracy-status")
    expect(status).to_contain_text("the cameras decide at threshold 0.2900 from now on")
    expect(status).to_be_focused()
    expect(body.locator("#accuracy-budget-status")).not_to_contain_text("Over budget")
    expect(body).to_contain_text("0.0 % (95 % interval 0.0 % to 27.8 %) of the 10 answered alerts")
    expect(body.get_by_role("button", name="Go back to the model card's threshold")).to_be_visible()
    owner.shot("accuracy-threshold-applied")
    with server.ledger.store.transaction() as s:
        site = s.execute(select(Site).where(Site.name == SITE)).scalar_one()
        assert site.threshold_override == 0.29
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == "site.threshold_override")
        ).scalar_one()
        assert entry.actor == "user:olga@default" and entry.details["after"] == 0.29

    body.get_by_label(re.compile("Dismissal budget for this site")).fill("25")
    body.get_by_role("button", name="Save dismissal budget").click()
    expect(status).to_contain_text("staff may dismiss 25.0 % of answered door alerts")
    # The Compliance page says which threshold the cameras decide at now.
    page.get_by_role("tab", name="Compliance").click()
    expect(page.locator("#compliance-body")).to_contain_text(
        "stricter threshold applied from staff answers (Accuracy)0.290"
    )
    assert owner.errors == []

    # An auditor reads the same figures and changes nothing.
    auditor = open_browser()
    login(auditor, "audrey")
    auditor.page.get_by_role("tab", name="Accuracy").click()
    body = auditor.page.locator("#accuracy-body")
    expect(body.locator("dl.facts").first).to_contain_text("Door alerts13")
    expect(body).to_contain_text("0.2900 (a stricter threshold applied at this site")
    expect(body.get_by_role("button")).to_have_count(0)
    assert auditor.errors == []


def test_staff_see_no_accuracy_tab_and_the_member_card_asks_to_refresh_photos(
    server: Server, open_browser: Callable[..., Browser], photos: Path, evidence: Path
) -> None:
    member = add_member(server.ledger, SITE, "Grace Hopper")
    record_consent(server.ledger, member.id, purpose="recognition", evidence=evidence)
    enroll(server.ledger, member.id, [photos / "obama.jpg"])
    close = 0.9 * model_card().track_threshold(1, None)
    for days in range(5):
        at = utcnow() - dt.timedelta(days=days)
        door_alert(server.ledger, SITE, server.cameras["door"], "confirmed", at, close, member.id)

    staff = open_browser()
    page = staff.page
    login(staff, "sam")
    expect(page.get_by_role("tab", name="Members")).to_be_visible()
    expect(page.get_by_role("tab", name="Accuracy")).to_be_hidden()
    page.get_by_role("tab", name="Members").click()
    page.get_by_role("row", name=re.compile("Grace Hopper")).get_by_role(
        "button", name=re.compile("Card")
    ).click()
    card = page.get_by_role("article", name="Member card of Grace Hopper")
    expect(card).to_contain_text("Ask to refresh the photos at the kiosk")
    expect(card).to_contain_text("median 90% of the threshold")
    staff.shot("member-card-refresh-photos")
    assert staff.errors == []
