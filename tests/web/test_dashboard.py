"""The staff dashboard in headless Chromium: login, live alerts with the door confirmation,
footfall chart, members and withdrawal, audit verification, compliance page."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from consentcam.audit import chain
from consentcam.consent.consents import record_consent
from consentcam.consent.members import add_member
from consentcam.events.outbox import record_event
from consentcam.pipeline.footfall import add_footfall
from consentcam.store.models import AuditEntry, Consent, Event, Member, MemberImage, Site, new_id
from consentcam.track.footfall import FootfallCounts
from tests.support.auth import PASSWORD
from tests.web.support import SITE, Browser, Server, expect, expected_errors, login


def test_login_shows_the_role_s_sections_and_logs_out(
    server: Server, open_browser: Callable[..., Browser]
) -> None:
    browser = open_browser()
    page = browser.page
    page.goto("/")
    # No session: the dashboard sends the person to the login page and back afterwards.
    page.wait_for_url(re.compile(r"/login\?next=%2Fdashboard"))
    page.get_by_label("User name").fill("sam")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong tenant, user name or password")
    browser.shot("login-refused")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/dashboard"))
    expect(page.locator("#who")).to_contain_text("sam (staff)")
    for tab in ("Live alerts", "Footfall", "Members", "Compliance"):
        expect(page.get_by_role("tab", name=tab)).to_be_visible()
    expect(page.get_by_role("tab", name="Audit log")).to_be_hidden()
    expect(page.locator("#stream-state")).to_have_text("live")
    browser.shot("dashboard-staff")

    # The tabs work from the keyboard (arrow keys move between them, as ARIA tabs do).
    page.get_by_role("tab", name="Live alerts").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Footfall")).to_be_focused()
    expect(page.get_by_role("tab", name="Footfall")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel", name="Footfall")).to_be_visible()
    page.keyboard.press("End")
    expect(page.get_by_role("tabpanel", name="Compliance")).to_be_visible()
    page.keyboard.press("Home")
    expect(page.get_by_role("tabpanel", name="Live alerts")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login"))
    page.goto("/dashboard")
    page.wait_for_url(re.compile(r"/login\?next="))
    assert expected_errors(browser, r"401", r"status of 401") == []


NO_PURCHASES: dict[str, object] = {
    "last_visits": [],
    "top_items": [],
    "spend_cents": {},
    "purchases": 0,
}


def _purchases(spend: dict[str, int]) -> dict[str, object]:
    return {
        "last_visits": ["2025-03-01T10:00:00+00:00", "2025-02-14T17:30:00+00:00"],
        "top_items": [{"item": "Espresso beans", "count": 7}, {"item": "Oat milk", "count": 3}],
        "spend_cents": spend,
        "purchases": 12,
    }


def _door_event(
    server: Server,
    member: Member,
    purchases: dict[str, object],
    event_id: str | None = None,
    pictures: dict[str, str | None] | None = None,
) -> str:
    """Record a pending door recognition of ``member`` as a camera worker would."""
    ledger = server.ledger
    with ledger.store.transaction() as s:
        site = s.execute(select(Site).where(Site.name == SITE)).scalar_one()
        payload = {
            "camera": "door",
            "site": SITE,
            "mode": "door",
            "member": {"id": member.id, "name": member.name, "profile": member.profile},
            "distance": 0.3812,
            "threshold": 0.5,
            "frames": 5,
            "purchases": purchases,
            "allowed_actions": ["greet"],
            "confirmation": "required",
            "pictures": pictures or {"portrait": None, "snapshot": None},
        }
        event = record_event(
            s,
            tenant_id=site.tenant_id,
            site_id=site.id,
            camera_id=server.cameras["door"],
            member_id=member.id,
            kind="recognition",
            payload=payload,
            at=dt.datetime.now(dt.UTC),
            status="pending",
            event_id=event_id,
        )
        chain.append(
            s,
            actor="camera:door",
            action="recognition.alert",
            subject=member.id,
            details={"event_id": event.id},
            tenant_id=site.tenant_id,
        )
        s.flush()
        return event.id


def test_live_alert_arrives_and_door_confirmation_works(
    server: Server, open_browser: Callable[..., Browser]
) -> None:
    from consentcam.consent.context import open_ledger
    from consentcam.events.staff import confirm_event

    ada = add_member(server.ledger, SITE, "Ada Lovelace", {"tier": "gold", "member_no": "A-1"})
    bob = add_member(server.ledger, SITE, "Bob Byron", {"tier": "silver"})
    browser = open_browser()
    page = browser.page
    login(browser, "sam")
    expect(page.locator("#stream-state")).to_have_text("live")

    # An event recorded after the page opened arrives over the stream.
    first = _door_event(server, ada, _purchases({"EUR": 123456, "USD": 999}))
    card = page.locator(f'[data-event-id="{first}"]')
    expect(card).to_be_visible()
    expect(card.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    expect(card).to_contain_text("gold")  # profile field value
    expect(card).to_contain_text("A-1")
    expect(card).to_contain_text("€1,234.56 + $9.99")
    expect(card).to_contain_text("Espresso beans \u00d7 7")
    expect(card).to_contain_text("Mar 1, 2025")
    expect(card).to_contain_text("Needs confirmation")
    expect(card.locator(".allowed")).to_have_text("Allowed now: Greet")
    browser.shot("door-alert-pending")

    card.get_by_role("button", name=re.compile("Confirm")).click()
    expect(card.locator(".allowed")).to_have_text("Allowed now: Greet, Assist")
    expect(card).to_contain_text("Confirmed")
    expect(card.get_by_role("button", name=re.compile("Confirm"))).to_have_count(0)
    with server.ledger.store.transaction() as s:
        event = s.get(Event, first)
        assert event is not None
        assert (event.status, event.confirmed_by) == ("confirmed", "user:sam@default")
        actions = s.execute(select(AuditEntry.action).where(AuditEntry.subject == ada.id))
        assert "event.confirmed" in set(actions.scalars())

    # A decision taken elsewhere (another till) reaches this page over the stream too.
    second = _door_event(server, bob, NO_PURCHASES)
    card2 = page.locator(f'[data-event-id="{second}"]')
    expect(card2).to_contain_text("No purchases on record.")
    expect(card2.get_by_role("button", name=re.compile("Dismiss"))).to_be_visible()
    other = open_ledger(server.settings, "user:olga@default")
    confirm_event(other, second, confirm=False)
    expect(card2).to_contain_text("Dismissed")
    expect(card2.locator(".allowed")).to_contain_text("no action")
    browser.shot("door-alerts-decided")

    # After a reload the recent alerts come back with their decisions.
    page.reload()
    expect(page.locator(f'[data-event-id="{first}"] .allowed')).to_have_text(
        "Allowed now: Greet, Assist"
    )
    expect(page.locator(f'[data-event-id="{second}"]')).to_contain_text("Dismissed")
    assert browser.errors == []


def _jpeg(path: Path, box: tuple[int, int, int, int]) -> bytes:
    """A face crop of a public-domain photo as JPEG bytes (left, top, right, bottom)."""
    out = io.BytesIO()
    Image.open(path).crop(box).resize((150, 150)).save(out, "JPEG")
    return out.getvalue()


def test_an_alert_shows_the_portrait_beside_the_door_picture_and_dismiss_deletes_it(
    server: Server, open_browser: Callable[..., Browser], photos: Path, evidence: Path
) -> None:
    from consentcam.consent.pictures import keep_snapshot, store_portrait

    ada = add_member(server.ledger, SITE, "Ada Lovelace", {"tier": "gold"})
    for purpose in ("recognition", "portrait"):
        record_consent(
            server.ledger, ada.id, purpose=purpose, evidence=evidence, notice_version="v3"
        )
    browser = open_browser()
    page = browser.page
    login(browser, "sam")
    expect(page.locator("#stream-state")).to_have_text("live")
    event_id = new_id()
    with server.ledger.store.transaction() as s:
        member = s.get(Member, ada.id)
        assert member is not None
        store_portrait(s, server.ledger, member, _jpeg(photos / "obama.jpg", (349, 142, 617, 409)))
    pictures: dict[str, str | None] = {
        "portrait": f"/api/v1/members/{ada.id}/portrait",
        "snapshot": f"/api/v1/events/{event_id}/snapshot",
    }
    _door_event(server, ada, NO_PURCHASES, event_id=event_id, pictures=pictures)
    with server.ledger.store.transaction() as s:
        member = s.get(Member, ada.id)
        assert member is not None
        door = _jpeg(photos / "obama2.jpg", (300, 100, 600, 400))
        assert keep_snapshot(s, server.ledger.keys, member, event_id, door)

    card = page.locator(f'[data-event-id="{event_id}"]')
    compare = card.get_by_role("group", name="Compare: is this Ada Lovelace?")
    portrait = compare.get_by_role("img", name="Enrolment photo of Ada Lovelace")
    snapshot = compare.get_by_role("img", name="The person at door now")
    for img in (portrait, snapshot):
        expect(img).to_be_visible()
        assert img.evaluate("i => i.complete && i.naturalWidth") == 150
        assert img.bounding_box()["width"] >= 150  # large enough to judge on a tablet
    browser.shot("door-alert-pictures")

    card.get_by_role("button", name=re.compile("Dismiss")).click()
    expect(card).to_contain_text("Dismissed")
    expect(snapshot).to_have_count(0)
    expect(card).to_contain_text("picture deleted (not the member)")
    expect(portrait).to_be_visible()  # the member's own portrait stays
    with server.ledger.store.transaction() as s:
        kinds = s.execute(select(MemberImage.kind).where(MemberImage.member_id == ada.id))
        assert list(kinds.scalars()) == ["portrait"]
    assert door not in b"".join(
        p.read_bytes() for p in server.settings.data_dir.rglob("*") if p.is_file()
    )

    # The member card shows the portrait too.
    page.get_by_role("tab", name="Members").click()
    page.get_by_role("button", name="Card of Ada Lovelace").click()
    expect(page.get_by_role("img", name="Enrolment photo of Ada Lovelace").last).to_be_visible()
    assert browser.errors == []


def test_footfall_chart_per_hour_and_camera(
    server: Server, open_browser: Callable[..., Browser]
) -> None:
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with server.ledger.store.transaction() as s:
        add_footfall(
            s,
            server.cameras["entrance"],
            {
                # entries, exits, dwell seconds, visits
                today.replace(hour=9): FootfallCounts(12, 3, 600, 4),
                today.replace(hour=10): FootfallCounts(30, 25, 900, 9),
            },
        )
        add_footfall(
            s,
            server.cameras["door"],
            {today.replace(hour=10): FootfallCounts(7, 6, 0, 0)},
        )
    browser = open_browser()
    page = browser.page
    login(browser, "sam")
    page.get_by_role("tab", name="Footfall").click()
    chart = page.locator("#footfall-chart svg")
    expect(chart).to_be_visible()
    bars = chart.locator("rect[data-series]")
    expect(bars).to_have_count(3)
    expect(chart.locator('rect[data-series="entrance"][data-value="30"]')).to_have_count(1)
    expect(chart.locator('rect[data-series="door"][data-value="7"]')).to_have_count(1)
    expect(page.locator("#footfall-legend")).to_contain_text("entrance")
    expect(page.locator("#footfall-totals")).to_contain_text("49")  # entries in the day
    browser.shot("footfall-entries")
    page.get_by_label("Show").select_option("exits")
    expect(chart.locator('rect[data-series="entrance"][data-value="25"]')).to_have_count(1)
    browser.shot("footfall-exits")
    assert browser.errors == []


def test_members_withdrawal_audit_and_compliance(
    server: Server, open_browser: Callable[..., Browser], evidence: Path
) -> None:
    member = add_member(server.ledger, SITE, "Grace Hopper", {"tier": "gold"})
    record_consent(server.ledger, member.id, purpose="recognition", evidence=evidence)
    add_member(server.ledger, SITE, "No Consent Yet")

    owner = open_browser()
    page = owner.page
    login(owner, "olga")
    page.get_by_role("tab", name="Members").click()
    row = page.get_by_role("row", name=re.compile("Grace Hopper"))
    expect(row).to_contain_text("active")
    expect(page.get_by_role("row", name=re.compile("No Consent Yet"))).to_contain_text("none")
    owner.shot("members")

    # Withdrawal asks first; cancelling changes nothing.
    row.get_by_role("button", name=re.compile("Withdraw")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Withdraw Grace Hopper?")
    owner.shot("withdraw-confirmation")
    dialog.get_by_role("button", name="Cancel").click()
    expect(row).to_contain_text("active")
    row.get_by_role("button", name=re.compile("Withdraw")).click()
    page.get_by_role("dialog").get_by_role("button", name="Withdraw and delete").click()
    expect(page.locator("#members-status")).to_contain_text("Deletion receipt")
    expect(page.get_by_role("row", name=re.compile("Grace Hopper"))).to_contain_text("withdrawn")
    owner.shot("withdrawn")
    with server.ledger.store.transaction() as s:
        consent = s.execute(select(Consent).where(Consent.member_id == member.id)).scalar_one()
        assert consent.withdrawn_at is not None

    # Rectification on the member's request: the name corrected in place.
    page.get_by_role("row", name=re.compile("Grace Hopper")).get_by_role(
        "button", name=re.compile("Correct name")
    ).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Grace B. Hopper")
    dialog.get_by_role("button", name="Save the correction").click()
    expect(page.locator("#members-status")).to_contain_text("is now Grace B. Hopper")
    expect(page.get_by_role("row", name=re.compile("Grace B. Hopper"))).to_have_count(1)
    owner.shot("rectified")

    # Erasure on the member's request: asked first, then everything about them is gone.
    page.get_by_role("row", name=re.compile("Grace B. Hopper")).get_by_role(
        "button", name=re.compile("Erase")
    ).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Erase Grace B. Hopper?")
    dialog.get_by_role("button", name="Erase everything").click()
    expect(page.locator("#members-status")).to_contain_text("Erasure receipt")
    expect(page.get_by_role("row", name=re.compile("Hopper"))).to_have_count(0)
    owner.shot("erased")
    with server.ledger.store.transaction() as s:
        assert s.get(Member, member.id) is None

    # The compliance page: profile, cameras with mode and signage, retention, counters, documents.
    page.get_by_role("tab", name="Compliance").click()
    body = page.locator("#compliance-body")
    expect(body).to_contain_text("Jurisdiction profile")
    expect(body.get_by_role("row", name=re.compile("door"))).to_contain_text("Yes")
    expect(body.get_by_role("row", name=re.compile("entrance"))).to_contain_text("count only")
    expect(body).to_contain_text("Anonymous footfall")
    expect(body).to_contain_text("Enrolled (with a face template)")
    # The cameras' operating point: the trade-off at this site's size, and the owner's choice.
    tradeoff = body.get_by_role("table", name=re.compile("The trade-off at"))
    expect(tradeoff.get_by_role("row")).to_have_count(5)  # a header and four budgets
    budget = body.get_by_label("False-alert budget for this site's cameras")
    expect(budget).to_have_value("")
    budget.select_option("5")
    body.get_by_role("button", name="Save budget").click()
    expect(body).to_contain_text("Saved: 5 false alerts per 1,000 non-member visitors")
    with server.ledger.store.transaction() as s:
        site = s.execute(select(Site).where(Site.name == SITE)).scalar_one()
        assert site.false_alerts_per_1000 == 5
    documents = {
        "Printable sign (HTML)": "text/html",
        "Printable sign (PDF)": "application/pdf",
        "Record of processing activities": "text/html",
        "Data protection impact assessment (draft)": "text/html",
    }
    for name, media_type in documents.items():
        link = body.get_by_role("link", name=name)
        expect(link).to_be_visible()
        href = link.get_attribute("href")
        assert href is not None
        response = page.request.get(href)  # with the page's session cookie
        assert response.status == 200, (name, response.status, response.text()[:200])
        assert response.headers["content-type"].startswith(media_type)
    owner.shot("compliance")
    assert owner.errors == []

    # The auditor reads the log and verifies the chain; the owner's withdrawal is in it.
    auditor = open_browser()
    page = auditor.page
    login(auditor, "audrey")
    expect(page.get_by_role("tab", name="Audit log")).to_be_visible()
    page.get_by_role("tab", name="Audit log").click()
    expect(page.locator("#audit-table")).to_contain_text("user:olga@default")
    page.get_by_role("button", name="Verify chain").click()
    expect(page.locator("#audit-verify-result")).to_contain_text("Chain intact")
    auditor.shot("audit-verified")
    assert auditor.errors == []
