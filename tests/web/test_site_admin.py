"""Setting a site up from the dashboard in headless Chromium: webhooks (add one, its secret shown
once, a test event a local receiver gets correctly signed, a refused address in words, the
deliveries and failures, removal), the printable sign (PDF and HTML downloads), the calibration
(an owner changes the false-alert budget and the threshold follows; a budget outside the
measured range is refused in words; others read only as their role may) and the purchases
upload (a good file's summary; a bad file's error with nothing stored). Screenshots at a tablet
size and at phone width."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from consentcam.consent.calibration import calibration
from consentcam.consent.consents import record_consent
from consentcam.consent.context import site_by_name
from consentcam.consent.members import add_member
from consentcam.events.destinations import webhook_client
from consentcam.events.outbox import record_event
from consentcam.events.webhooks import deliver_due
from consentcam.store.models import AuditEntry, Purchase, Site, Webhook, utcnow
from tests.support.events import Receiver
from tests.web.support import (
    SITE,
    Browser,
    Server,
    expect,
    expected_errors,
    login,
    store_settings_on_both_backends,  # noqa: F401 (the fixture)
)

PHONE = {"width": 390, "height": 844}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _event(server: Server) -> str:
    """A recognition at the door of ``north``, with its outbox entry and deliveries."""
    with server.ledger.store.transaction() as s:
        site = site_by_name(s, SITE, server.ledger.tenant_id(s))
        event = record_event(
            s,
            tenant_id=site.tenant_id,
            site_id=site.id,
            camera_id=server.cameras["door"],
            member_id=None,
            kind="recognition",
            payload={"camera": "door", "distance": 0.3},
            at=utcnow(),
        )
        return event.id


def _webhooks(server: Server) -> list[str]:
    with server.ledger.store.transaction() as s:
        return list(s.execute(select(Webhook.url).order_by(Webhook.created_at)).scalars())


def test_owner_adds_a_webhook_tests_it_and_sees_deliveries_and_failures(
    server: Server, open_browser: Callable[..., Browser]
) -> None:
    owner = open_browser()
    page = owner.page
    login(owner, "olga")
    page.get_by_role("tab", name="Webhooks").click()
    panel = page.get_by_role("tabpanel", name="Webhooks")
    expect(panel.locator("#webhooks-empty")).to_be_visible()

    # The address policy refuses a private address, in words, and nothing is stored.
    panel.get_by_label("Receiver URL").fill("https://10.1.2.3/hook")
    panel.get_by_role("button", name="Add webhook").click()
    refused = panel.locator("#webhook-add-status")
    expect(refused).to_contain_text(
        "Not added: webhook URL https://10.1.2.3: 10.1.2.3 is a private"
    )
    expect(panel.get_by_label("Receiver URL")).to_have_attribute("aria-invalid", "true")
    owner.shot("webhook-refused")
    assert _webhooks(server) == []

    with Receiver() as receiver:
        panel.get_by_label("Receiver URL").fill(receiver.url)
        panel.get_by_label("Events of").select_option("site")
        panel.get_by_label("Receiver URL").press("Enter")  # the form submits from the keyboard
        secret_field = panel.get_by_label("Signing secret")
        expect(secret_field).to_be_focused()
        secret = secret_field.input_value()
        assert secret.startswith("whsec_")
        receiver.secret = secret.encode()
        card = panel.get_by_role("listitem").filter(has_text=receiver.url)
        expect(card).to_contain_text("Events of" + SITE)
        owner.shot("webhook-added-secret-shown")

        card.get_by_role("button", name="Send a test event").focus()
        page.keyboard.press("Enter")
        expect(card.get_by_role("status")).to_contain_text(
            "Test event delivered: the receiver answered HTTP 204."
        )
        (got,) = receiver.requests
        assert got.verified, got.headers  # signed with the secret the page showed once
        assert b'"kind":"webhook.test"' in got.body
        owner.shot("webhook-test-delivered")

        # A real event, delivered; and a second webhook whose receiver is gone.
        dead_url = f"http://127.0.0.1:{_closed_port()}/hook"
        panel.get_by_label("Receiver URL").fill(dead_url)
        panel.get_by_role("button", name="Add webhook").click()
        # The first webhook's secret may still be showing: wait for the new webhook's card.
        expect(panel.get_by_role("listitem").filter(has_text=dead_url)).to_be_visible()
        event_id = _event(server)
        with webhook_client(server.settings) as client:
            report = deliver_due(server.ledger, client)
        assert (report.attempted, report.delivered, report.retrying) == (2, 1, 1)
        assert len(receiver.requests) == 2 and receiver.requests[1].verified

    page.reload()
    panel = page.get_by_role("tabpanel", name="Webhooks")
    card = panel.get_by_role("listitem").filter(has_text="/hooks/consentcam")
    expect(card).to_contain_text("1 delivered, 0 pending, 0 failed")
    card.get_by_role("button", name="Show deliveries").click()
    rows = card.get_by_role("table", name="Recent deliveries (newest event first)")
    expect(rows.get_by_role("row").nth(1)).to_contain_text("recognition")
    expect(rows.get_by_role("row").nth(1)).to_contain_text("Delivered")

    dead = panel.get_by_role("listitem").filter(has_text=dead_url)
    expect(dead).to_contain_text("0 delivered, 1 pending, 0 failed")
    dead.get_by_role("button", name="Show deliveries").click()
    dead.get_by_label("Failures only").check()
    failures = dead.get_by_role("table", name="Recent failures (newest event first)")
    expect(failures).to_contain_text("could not connect to the receiver")
    expect(failures).to_contain_text("next try")
    expect(failures).to_contain_text("Retrying")
    dead.get_by_role("button", name="Send a test event").click()
    expect(dead.get_by_role("alert")).to_contain_text(
        "Test event not delivered: could not connect to the receiver"
    )
    owner.shot("webhook-deliveries-and-failures")

    # Removal asks first; the safe button has the focus.
    dead.get_by_role("button", name="Remove").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name="Remove webhook").click()
    expect(panel.locator("#webhooks-status")).to_contain_text("Webhook removed")
    assert dead_url not in _webhooks(server) and len(_webhooks(server)) == 1
    with server.ledger.store.transaction() as s:
        tests = s.execute(select(func.count()).where(AuditEntry.action == "webhook.test"))
        assert tests.scalar_one() == 2
    assert event_id

    phone = open_browser()
    phone.page.set_viewport_size(PHONE)
    login(phone, "olga", "/dashboard#webhooks")
    expect(phone.page.get_by_role("tabpanel", name="Webhooks")).to_contain_text("/hooks/consentcam")
    phone.shot("webhooks-phone")
    assert expected_errors(owner, r"status of 40[03]") == []
    assert phone.errors == []

    staff = open_browser()
    login(staff, "sam")
    expect(staff.page.get_by_role("tab", name="Live alerts")).to_be_visible()
    expect(staff.page.get_by_role("tab", name="Webhooks")).to_be_hidden()
    expect(staff.page.get_by_role("tab", name="Purchases")).to_be_hidden()


def test_signs_download_as_pdf_and_html(
    server: Server, open_browser: Callable[..., Browser], tmp_path: Path
) -> None:
    owner = open_browser()
    page = owner.page
    login(owner, "olga")
    page.get_by_role("tab", name="Signs & calibration").click()
    panel = page.get_by_role("tabpanel", name="Signs & calibration")
    placement = panel.locator("#sign-placement")
    expect(placement).to_contain_text("At every entrance")
    expect(placement).to_contain_text("door (door, signs attested)")
    panel.get_by_label("Controller (the business responsible)").fill("Corner Shop Ltd")
    owner.shot("signs")

    with page.expect_download() as pdf_download:
        panel.get_by_role("link", name="Download the sign (PDF)").click()
    pdf = Path(pdf_download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    assert pdf_download.value.suggested_filename == f"signage-{SITE}.pdf"

    with page.expect_download() as html_download:
        panel.get_by_role("link", name="Download the sign (HTML)").click()
    html = Path(html_download.value.path()).read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert SITE in html and "Corner Shop Ltd" in html
    assert owner.errors == []

    # An auditor may download it too, at phone width; staff have the Compliance tab's links.
    auditor = open_browser()
    auditor.page.set_viewport_size(PHONE)
    login(auditor, "audrey", "/dashboard#setup")
    audit_panel = auditor.page.get_by_role("tabpanel", name="Signs & calibration")
    expect(audit_panel.get_by_role("link", name="Download the sign (PDF)")).to_be_visible()
    expect(audit_panel.locator("#setup-calibration dl.facts")).to_contain_text("Gallery size")
    auditor.shot("signs-auditor-phone")
    assert auditor.errors == []
    staff = open_browser()
    login(staff, "sam")
    expect(staff.page.get_by_role("tab", name="Compliance")).to_be_visible()
    expect(staff.page.get_by_role("tab", name="Signs & calibration")).to_be_hidden()


def test_owner_changes_the_false_alert_budget_and_the_threshold_follows(
    server: Server, open_browser: Callable[..., Browser]
) -> None:
    before = calibration(server.ledger, SITE)["cameras"]
    other = next(
        t
        for t in before["tradeoff"]
        if t["false_alerts_per_1000"] != before["false_alerts_per_1000"]
    )
    owner = open_browser()
    page = owner.page
    login(owner, "olga", "/dashboard#setup")
    panel = page.get_by_role("tabpanel", name="Signs & calibration")
    facts = panel.locator("#setup-calibration dl.facts")
    expect(facts).to_contain_text(f"Threshold in force (cameras){before['threshold']:.3f}")
    expect(facts).to_contain_text("Gallery size (members searched here)0")
    expect(facts).to_contain_text("the model card's default")

    # Outside the measured range: refused in words, nothing changed.
    budget = panel.get_by_label("False-alert budget (per 1,000 non-member visitors)")
    budget.fill("100000")
    panel.get_by_role("button", name="Save false-alert budget").click()
    error = panel.locator("#setup-budget-status")
    expect(error).to_contain_text("Not saved:")
    expect(budget).to_have_attribute("aria-invalid", "true")
    owner.shot("budget-refused")
    # The refusal's words come from the API (the model card's measured range), not the page.
    assert re.search(r"measured|range|between", error.text_content() or ""), error.text_content()
    with server.ledger.store.transaction() as s:
        site = s.execute(select(Site).where(Site.name == SITE)).scalar_one()
        assert site.false_alerts_per_1000 is None

    budget.fill(str(other["false_alerts_per_1000"]))
    budget.press("Enter")
    saved = panel.locator("#setup-budget-status")
    expect(saved).to_contain_text(f"threshold {other['threshold']:.3f} from now on")
    expect(saved).to_be_focused()
    expect(facts).to_contain_text(f"Threshold in force (cameras){other['threshold']:.3f}")
    expect(facts).to_contain_text("chosen for this site")
    assert f"{other['threshold']:.3f}" != f"{before['threshold']:.3f}"
    owner.shot("budget-saved")
    with server.ledger.store.transaction() as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == "site.false_alert_budget")
        ).scalar_one()
        assert entry.details["after"] == other["false_alerts_per_1000"]
    assert expected_errors(owner, r"status of 400") == []

    auditor = open_browser()
    login(auditor, "audrey", "/dashboard#setup")
    audit_panel = auditor.page.get_by_role("tabpanel", name="Signs & calibration")
    expect(audit_panel.locator("#setup-calibration dl.facts")).to_contain_text(
        "chosen for this site"
    )
    expect(audit_panel.locator("#setup-budget")).to_have_count(0)
    assert auditor.errors == []


def test_purchases_upload_shows_a_summary_or_the_error_and_stores_nothing_then(
    server: Server, open_browser: Callable[..., Browser], tmp_path: Path
) -> None:
    evidence = tmp_path / "consent.txt"
    evidence.write_text("ticked; typed A. Member")
    member = add_member(server.ledger, SITE, "Ada Member")
    record_consent(server.ledger, member.id, purpose="recognition", evidence=evidence)
    good = (
        "member_id,time,items,amount,currency\n"
        f"{member.id},2024-05-01T10:00:00+02:00,tea;scones,7.50,EUR\n"
        f"{member.id},2024-05-02T11:30:00Z,coffee,3.20,EUR\n"
    )
    bad = (
        "member_id,time,items,amount,currency\n"
        f"{member.id},2024-05-03T10:00:00Z,cake,4.00,EUR\n"
        f"{member.id},2024-05-04T10:00:00Z,tea,three euros,EUR\n"
    )

    def purchases() -> int:
        with server.ledger.store.transaction() as s:
            return int(s.execute(select(func.count()).select_from(Purchase)).scalar_one())

    owner = open_browser()
    page = owner.page
    login(owner, "olga")
    page.get_by_role("tab", name="Purchases").click()
    panel = page.get_by_role("tabpanel", name="Purchases")
    chooser = panel.get_by_label("Point-of-sale export (CSV file)")

    chooser.set_input_files({"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()})
    panel.get_by_role("button", name="Import purchases").click()
    status = panel.locator("#purchases-status")
    expect(status).to_contain_text("Nothing was imported from bad.csv")
    expect(status).to_contain_text("line 3")
    expect(status).to_be_focused()
    owner.shot("purchases-refused")
    assert purchases() == 0  # the good first row was not stored either

    chooser.set_input_files({"name": "till.csv", "mimeType": "text/csv", "buffer": good.encode()})
    panel.get_by_role("button", name="Import purchases").click()
    expect(status).to_contain_text("Imported 2 purchases for 1 member from till.csv.")
    expect(status).to_contain_text("Members matched1")
    owner.shot("purchases-imported")
    assert purchases() == 2
    assert expected_errors(owner, r"status of 400") == []
