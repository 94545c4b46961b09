"""The consent kiosk in headless Chromium: notice, affirmative act, photo through the quality
gate (upload and webcam), enrolment, and withdrawal as easy as enrolment."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageFilter
from sqlalchemy import func, select

from consentcam.consent.consents import record_consent
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_site
from consentcam.store.models import Consent, Member, MemberImage, Template
from tests.web.support import SITE, Browser, Server, expect, expected_errors, login

CONSENT_BOX = re.compile("I have read the notice and I consent")


def _member(server: Server, name: str) -> Member:
    with server.ledger.store.transaction() as s:
        member = s.execute(select(Member).where(Member.name == name)).scalar_one()
        s.expunge(member)
        return member


def _templates(server: Server, member_id: str) -> int:
    with server.ledger.store.transaction() as s:
        query = select(func.count()).select_from(Template).where(Template.member_id == member_id)
        return int(s.execute(query).scalar_one())


def _consents(server: Server, member_id: str) -> list[Consent]:
    with server.ledger.store.transaction() as s:
        rows = list(s.execute(select(Consent).where(Consent.member_id == member_id)).scalars())
        for row in rows:
            s.expunge(row)
        return rows


def test_kiosk_enrolment_refuses_a_blurred_photo_then_enrols(
    server: Server, open_browser: Callable[..., Browser], photos: Path, tmp_path: Path
) -> None:
    blurred = tmp_path / "blurred.jpg"
    Image.open(photos / "obama.jpg").filter(ImageFilter.GaussianBlur(6)).save(blurred)
    browser = open_browser(permissions=["camera"])
    page = browser.page
    login(browser, "kim", f"/kiosk?site={SITE}")

    notice = page.request.get(f"/api/v1/sites/{SITE}/notice?version=v3").json()
    expect(page.locator("#notice-text")).to_have_text(notice["text"])
    consent_box = page.get_by_role("checkbox", name=CONSENT_BOX)
    expect(consent_box).not_to_be_checked()
    browser.shot("kiosk-notice")

    # Nothing is recorded without the affirmative act.
    page.get_by_label("Your full name", exact=True).fill("Barack Obama")
    page.get_by_role("button", name="I agree — continue").click()
    problems = page.locator("#consent-status")
    expect(problems).to_contain_text("Sign: type your full name again")
    expect(problems).to_contain_text("Tick the box")
    browser.shot("kiosk-consent-incomplete")
    with server.ledger.store.transaction() as s:
        assert s.execute(select(func.count()).select_from(Member)).scalar_one() == 0

    page.get_by_label("Type your full name to sign").fill("barack  obama")
    consent_box.check()
    page.get_by_role("button", name="I agree — continue").click()
    expect(page.get_by_role("heading", name="Your photo")).to_be_visible()
    member = _member(server, "Barack Obama")
    [consent] = _consents(server, member.id)  # recognition only: the portrait box was not ticked
    assert consent.channel == "kiosk" and consent.purpose == "recognition"
    assert consent.notice_sha256 == notice["sha256"]
    assert consent.withdrawn_at is None

    # The webcam: a synthetic camera with no face; the burst's five frames are refused, the
    # gate says why (once, not five times) and the member retakes.
    page.get_by_role("button", name="Use the camera").click()
    page.get_by_role("button", name="Take photos").click()
    expect(page.get_by_role("list", name="Your photos").get_by_role("img")).to_have_count(5)
    page.get_by_role("button", name="Use these photos").click()
    status = page.locator("#photo-status")
    expect(status).to_contain_text("Too few of these photos can be used")
    expect(status.get_by_role("listitem")).to_have_count(1)
    expect(status.get_by_role("listitem").first).to_contain_text("face")
    page.get_by_role("button", name="Stop camera").click()

    # An upload that fails the quality gate shows its reasons.
    page.get_by_label("Or choose photo files").set_input_files(blurred)
    page.get_by_role("button", name="Use this photo").click()
    expect(status.get_by_role("listitem")).to_contain_text(["Image too blurry"])
    browser.shot("kiosk-photo-refused")
    assert _templates(server, member.id) == 0

    page.get_by_label("Or choose photo files").set_input_files(photos / "obama.jpg")
    page.get_by_role("button", name="Use this photo").click()
    expect(page.get_by_role("heading", name="You are enrolled")).to_be_visible()
    expect(page.locator("#done-member-id")).to_have_text(member.id)
    expect(page.locator("#step-done")).to_contain_text("withdraw at any time")
    expect(page.locator("#done-views")).to_have_text("One view of your face is stored.")
    browser.shot("kiosk-enrolled")
    assert _templates(server, member.id) == 1

    # Finish clears the screen for the next person.
    page.get_by_role("button", name="Finish").click()
    expect(page.get_by_label("Your full name", exact=True)).to_have_value("")
    expect(page.locator("#done-member-id")).to_have_text("")
    assert expected_errors(browser, r"status of 400") == []


def test_kiosk_burst_from_the_camera_enrols_several_views(
    server: Server, open_face_camera_browser: Callable[..., Browser]
) -> None:
    """A webcam that shows a person: the member is prompted through five frames (left, right,
    up) and several templates are stored from one capture."""
    browser = open_face_camera_browser(permissions=["camera"])
    page = browser.page
    login(browser, "kim", f"/kiosk?site={SITE}")
    page.get_by_label("Your full name", exact=True).fill("Barack Obama")
    page.get_by_label("Type your full name to sign").fill("Barack Obama")
    page.get_by_role("checkbox", name=CONSENT_BOX).check()
    portrait_box = page.get_by_role("checkbox", name=re.compile("Optional: staff may also see"))
    expect(portrait_box).not_to_be_checked()  # a separate choice, off unless ticked
    portrait_box.check()
    page.get_by_role("button", name="I agree — continue").click()
    page.get_by_role("button", name="Use the camera").click()
    page.get_by_role("button", name="Take photos").click()
    expect(page.locator("#camera-prompt")).to_contain_text("of 5")
    previews = page.get_by_role("list", name="Your photos").get_by_role("img")
    expect(previews).to_have_count(5)
    expect(previews.first).to_have_attribute("alt", "Photo 1 of 5")
    browser.shot("kiosk-burst")
    page.get_by_role("button", name="Use these photos").click()
    expect(page.get_by_role("heading", name="You are enrolled")).to_be_visible()
    member = _member(server, "Barack Obama")
    stored = _templates(server, member.id)
    assert 3 <= stored <= 5
    expect(page.locator("#done-views")).to_have_text(
        f"{stored} views of your face are stored. Staff may see a small photo of your face to "
        "check it is you."
    )
    assert sorted(c.purpose for c in _consents(server, member.id)) == ["portrait", "recognition"]
    with server.ledger.store.transaction() as s:
        kinds = s.execute(select(MemberImage.kind).where(MemberImage.member_id == member.id))
        assert list(kinds.scalars()) == ["portrait"]
    assert browser.errors == []


def test_kiosk_written_release_with_a_drawn_signature_and_cancel(
    server: Server, open_browser: Callable[..., Browser]
) -> None:
    add_site(server.ledger, "chicago", "us-il")  # BIPA: a signed written release
    browser = open_browser()
    page = browser.page
    login(browser, "kim", "/kiosk?site=chicago")
    expect(page.locator("#sign-instructions")).to_contain_text("signed written release")
    page.get_by_label("Your full name", exact=True).fill("Ada Lovelace")
    page.get_by_label("Type your full name to sign").fill("Ada Lovelace")
    page.get_by_role("checkbox", name=CONSENT_BOX).check()
    page.get_by_role("button", name="I agree — continue").click()
    expect(page.locator("#consent-status")).to_contain_text("Draw your signature")

    box = page.locator("#signature-pad").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 40, box["y"] + 120)
    page.mouse.down()
    for x, y in ((120, 40), (200, 140), (280, 50), (360, 130)):
        page.mouse.move(box["x"] + x, box["y"] + y, steps=5)
    page.mouse.up()
    browser.shot("kiosk-signed")
    page.get_by_role("button", name="I agree — continue").click()
    expect(page.get_by_role("heading", name="Your photo")).to_be_visible()
    member = _member(server, "Ada Lovelace")
    [consent] = _consents(server, member.id)
    assert consent.channel == "written"

    # Changing one's mind at the photo step withdraws the consent just given.
    page.get_by_role("button", name="Cancel and withdraw my consent").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("nothing about your face is kept")
    dialog.get_by_role("button", name="Yes, withdraw").click()
    expect(page.locator("#kiosk-status")).to_contain_text("Your consent is withdrawn")
    expect(page.get_by_role("heading", name=re.compile("recognise you"))).to_be_visible()
    [consent] = _consents(server, member.id)
    assert consent.withdrawn_at is not None
    assert browser.errors == []


def test_kiosk_withdrawal_by_member_number(
    server: Server, open_browser: Callable[..., Browser], evidence: Path
) -> None:
    member = add_member(server.ledger, SITE, "Grace Hopper")
    record_consent(server.ledger, member.id, purpose="recognition", evidence=evidence)
    browser = open_browser()
    page = browser.page
    login(browser, "kim", f"/kiosk/withdraw?site={SITE}")
    number = page.get_by_label("Your member number")

    # A number nobody has: said plainly, and the member can correct it.
    number.fill("no-such-member")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Yes, withdraw and delete").click()
    expect(page.locator("#withdraw-status")).to_contain_text("No member with this number")
    expect(number).to_have_value("no-such-member")

    # What a QR scanner types (a link carrying the number) works as well as the number.
    number.fill(f"https://shop.example/m?member={member.id}")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#confirm-member-id")).to_have_text(member.id)
    browser.shot("withdraw-confirm")
    page.get_by_role("button", name="Yes, withdraw and delete").click()
    receipt = page.locator("#receipt")
    expect(page.get_by_role("heading", name=re.compile("consent is withdrawn"))).to_be_visible()
    expect(receipt).to_contain_text("Receipt number")
    expect(receipt).to_contain_text(member.id)
    expect(receipt).to_contain_text("user:kim@default")
    browser.shot("withdraw-receipt")
    [consent] = _consents(server, member.id)
    assert consent.withdrawn_at is not None
    assert expected_errors(browser, r"status of 404") == []


def test_notice_page_from_the_sign_s_qr_code(
    server: Server, open_browser: Callable[..., Browser]
) -> None:
    visitor = open_browser()
    visitor.page.goto(f"/kiosk/notice?site={SITE}")
    # Without a session the visitor is told where to read it, not sent to a login page.
    expect(visitor.page.locator("#notice-status")).to_contain_text("shown on the kiosk")
    assert visitor.page.url.endswith(f"/kiosk/notice?site={SITE}")
    visitor.shot("notice-visitor")

    # The sign's QR code carries the site id: the public notice opens without any login.
    from consentcam.consent.context import site_by_name

    with server.ledger.store.transaction() as s:
        site_id = site_by_name(s, SITE).id
    passer_by = open_browser()
    passer_by.page.goto(f"/kiosk/notice?site_id={site_id}")
    expect(passer_by.page.locator("#notice-text")).to_contain_text("consent")
    assert passer_by.errors == []

    kiosk = open_browser()
    login(kiosk, "kim", f"/kiosk/notice?site={SITE}")
    expect(kiosk.page.locator("#notice-text")).not_to_be_empty()
    assert expected_errors(visitor, r"status of 401") == []
    assert kiosk.errors == []
