"""Members over the API: the kiosk flow end to end (real face model), the member list, the
audited member card, export and withdrawal."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from consentcam.consent.sites import add_camera
from consentcam.events.accuracy import REFRESH_VISITS
from consentcam.model_card import model_card
from consentcam.store.models import AuditEntry, Consent, Template, utcnow
from tests.support.events import door_alert
from tests.support.seed import World


@pytest.mark.slow
def test_kiosk_flow_from_site_to_withdrawal_receipt(world: World, photos: Path) -> None:
    admin, kiosk = world.principal("admin"), world.principal("kiosk")
    staff, auditor = world.principal("staff"), world.principal("auditor")
    site = world.call(admin, "POST", "/sites", json={"name": "harbour", "jurisdiction": "eu"})
    assert site.status_code == 201 and site.json()["jurisdiction"] == "eu"
    camera = world.call(
        admin,
        "POST",
        "/sites/harbour/cameras",
        json={"name": "door", "source": "door.mp4", "mode": "door", "signage_attested": True},
    )
    assert camera.status_code == 201 and camera.json()["mode"] == "door"
    member = world.call(kiosk, "POST", "/members", json={"site": "harbour", "name": "Barack"})
    assert member.status_code == 201
    member_id = member.json()["id"]

    notice = world.call(kiosk, "GET", "/sites/harbour/notice").json()
    consent = world.call(
        kiosk,
        "POST",
        f"/members/{member_id}/consents",
        json={"purpose": "recognition", "evidence_text": "ticked; typed Barack", "age": 60},
    )
    assert consent.status_code == 201, consent.text
    assert consent.json()["notice_sha256"] == notice["sha256"]
    assert consent.json()["evidence_sha256"] == hashlib.sha256(b"ticked; typed Barack").hexdigest()

    with (photos / "obama.jpg").open("rb") as photo:
        enrolled = world.call(
            kiosk,
            "POST",
            f"/members/{member_id}/enrol",
            files=[("photos", ("obama.jpg", photo, "image/jpeg"))],
        )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["templates"] == 1 and enrolled.json()["quality"][0]["ok"]

    listed = world.call(staff, "GET", "/sites/harbour/members").json()
    assert [(m["id"], m["consent"], m["templates"]) for m in listed["items"]] == [
        (member_id, "active", 1)
    ]
    card = world.call(staff, "GET", f"/members/{member_id}")
    assert card.status_code == 200 and card.json()["templates"] == 1
    views = _entries(world, "member.view", member_id)
    assert [e.actor for e in views] == [staff.actor]

    exported = world.call(auditor, "GET", f"/members/{member_id}/export")
    assert exported.status_code == 200
    assert len(exported.json()["templates"]) == 1
    assert "sealed" not in exported.text
    assert [e.actor for e in _entries(world, "member.export", member_id)] == [auditor.actor]

    receipt = world.call(kiosk, "POST", f"/members/{member_id}/withdraw")
    assert receipt.status_code == 200
    assert receipt.json()["deleted_templates"] == 1 and receipt.json()["by"] == kiosk.actor
    listed = world.call(staff, "GET", "/sites/harbour/members").json()
    assert (listed["items"][0]["consent"], listed["items"][0]["templates"]) == ("withdrawn", 0)
    assert world.call(world.principal("owner"), "GET", "/audit/verify").json()["ok"] is True


@pytest.mark.slow
def test_enrolment_refusals_say_what_to_fix_and_store_nothing(world: World, photos: Path) -> None:
    kiosk = world.principal("kiosk")
    member_id = world.member()
    before = world.rows()
    with (photos / "two_people.jpg").open("rb") as photo:
        response = world.call(
            kiosk,
            "POST",
            f"/members/{member_id}/enrol",
            files=[("photos", ("group.jpg", photo, "image/jpeg"))],
        )
    assert response.status_code == 400
    message = response.json()["error"]
    assert message.startswith("photo 1 (group.jpg): ") and "exactly one" in message
    assert "/tmp" not in message and "consentcam-enrol" not in message
    assert world.rows() == before


def test_a_kiosk_burst_enrols_the_frames_that_pass(world: World, photos: Path) -> None:
    from PIL import Image, ImageFilter

    kiosk = world.principal("kiosk")
    member_id = world.member()
    blurred = io.BytesIO()
    Image.open(photos / "obama.jpg").filter(ImageFilter.GaussianBlur(8)).save(blurred, "JPEG")
    frames = [
        ("photos", (name, (photos / name).read_bytes(), "image/jpeg"))
        for name in ("obama.jpg", "obama2.jpg", "obama3.jpg")
    ] + [("photos", ("camera-4.jpg", blurred.getvalue(), "image/jpeg"))]
    done = world.call(
        kiosk, "POST", f"/members/{member_id}/enrol", params={"burst": "true"}, files=frames
    )
    assert done.status_code == 201, done.text
    body = done.json()
    assert body["templates"] == 3 and len(body["quality"]) == 3
    (skipped,) = body["skipped"]
    assert skipped.startswith("photo 4 (camera-4.jpg)") and "blurry" in skipped
    card = world.call(world.principal("staff"), "GET", f"/members/{member_id}").json()
    assert card["templates"] == 3 and card["visit_templates"] == 0
    # Without burst, the same upload is refused whole: every photo must pass.
    other = world.member()
    whole = world.call(kiosk, "POST", f"/members/{other}/enrol", files=frames)
    assert whole.status_code == 400 and "photo 4 (camera-4.jpg)" in whole.json()["error"]


def test_enrolment_limits_count_size_and_needs_consent(world: World, fake_faces: None) -> None:
    kiosk = world.principal("kiosk")
    photo = ("photos", ("a.jpg", b"x", "image/jpeg"))
    before = world.rows()
    member_id = world.member()
    after_member = world.rows()
    too_many = world.call(kiosk, "POST", f"/members/{member_id}/enrol", files=[photo] * 6)
    assert too_many.status_code == 400 and "1 to 5" in too_many.json()["error"]
    none = world.call(kiosk, "POST", f"/members/{member_id}/enrol")
    assert none.status_code == 422
    unconsented = world.member(consent=False)
    refused = world.call(kiosk, "POST", f"/members/{unconsented}/enrol", files=[photo])
    assert refused.status_code == 403 and "no active consent" in refused.json()["error"]
    assert world.rows()["templates"] == before["templates"] == after_member["templates"]


def test_enrolment_refuses_a_photo_over_the_size_limit(world: World, fake_faces: None) -> None:
    limit, member_id = world.settings.vision.decode.max_bytes, world.member()
    before = world.rows()
    big = ("photos", ("big.jpg", b"\xff" * (limit + 1), "image/jpeg"))
    response = world.call(
        world.principal("kiosk"), "POST", f"/members/{member_id}/enrol", files=[big]
    )
    assert response.status_code == 400
    assert response.json()["error"] == f"photo 1 (big.jpg): over the {limit}-byte limit"
    assert world.rows() == before


def test_consent_evidence_as_base64_and_profile_rules(world: World) -> None:
    kiosk = world.principal("kiosk")
    member_id = world.member(consent=False)
    scan = b"%PDF-1.4 signed release"
    consent = world.call(
        kiosk,
        "POST",
        f"/members/{member_id}/consents",
        json={
            "purpose": "recognition",
            "evidence": base64.b64encode(scan).decode(),
            "channel": "written",
            "expires": "2099-01-01T00:00:00Z",
        },
    )
    assert consent.status_code == 201
    assert consent.json()["evidence_sha256"] == hashlib.sha256(scan).hexdigest()
    assert consent.json()["expires_at"].startswith("2099-01-01")

    minor = world.call(
        kiosk,
        "POST",
        f"/members/{member_id}/consents",
        json={"purpose": "recognition", "evidence_text": "yes", "age": 12},
    )
    assert minor.status_code == 403 and "guardian" in minor.json()["error"]


def test_member_list_pages_and_reports_each_consent_state(world: World) -> None:
    active, expired, withdrawn = world.member(), world.member(), world.member()
    none = world.member(consent=False)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with world.ledgers["acme"].store.transaction() as s:
        s.execute(update(Consent).where(Consent.member_id == expired).values(expires_at=past))
        s.execute(update(Consent).where(Consent.member_id == withdrawn).values(withdrawn_at=past))
    staff = world.principal("staff")
    page = world.call(staff, "GET", "/sites/north/members", params={"limit": 3}).json()
    rest = world.call(staff, "GET", "/sites/north/members", params={"offset": 3}).json()
    assert page["total"] == rest["total"] == 4 and len(page["items"]) == 3
    states = {m["id"]: m["consent"] for m in page["items"] + rest["items"]}
    assert states == {
        active: "active",
        expired: "expired",
        withdrawn: "withdrawn",
        none: "none",
    }
    bad = world.call(staff, "GET", "/sites/north/members", params={"limit": 0})
    assert bad.status_code == 422
    # Each page read is audited with who read it, where and how many, never the names.
    with world.ledgers["acme"].store.transaction() as s:
        query = select(AuditEntry).where(AuditEntry.action == "member.list")
        entries = list(s.execute(query.order_by(AuditEntry.seq)).scalars())
    assert [e.details for e in entries[-2:]] == [  # the world is shared: this test's two
        {"site": "north", "offset": 0, "count": 3},
        {"site": "north", "offset": 3, "count": 1},
    ]
    assert all(staff.user in e.actor for e in entries[-2:])


def test_member_card_shows_the_purchase_summary(world: World) -> None:
    member_id = world.member()
    csv = (
        "member_id,time,items,amount,currency\n"
        f"{member_id},2024-05-01T10:00:00Z,tea;scones,7.50,EUR\n"
        f"{member_id},2024-05-03T10:00:00Z,tea,3.00,EUR\n"
    )
    imported = world.call(
        world.principal("admin"),
        "POST",
        "/purchases",
        content=csv,
        headers={"content-type": "text/csv"},
    )
    assert imported.status_code == 201
    card = world.call(world.principal("staff"), "GET", f"/members/{member_id}").json()
    assert card["purchases"]["spend_cents"] == {"EUR": 1050}
    assert card["purchases"]["top_items"][0] == {"item": "tea", "count": 2}
    assert card["profile"] == {"tier": "gold"} and card["consent"] == "active"


def test_member_card_asks_to_refresh_photos_that_match_close_to_the_threshold(
    world: World, fake_faces: None
) -> None:
    """A member whose last 5 confirmed door visits matched at a median above 80% of the
    threshold in force is asked to refresh their photos at the kiosk; closer matches ask
    nothing."""
    ledger, staff, kiosk = world.ledgers["acme"], world.principal("staff"), world.principal("kiosk")
    drifting, fresh = world.member(), world.member()
    photo = [("photos", ("a.jpg", b"x", "image/jpeg"))]
    for member_id in (drifting, fresh):
        assert world.call(kiosk, "POST", f"/members/{member_id}/enrol", files=photo).is_success
    threshold = model_card().track_threshold(2, None)  # the two members are the gallery
    for i in range(REFRESH_VISITS):
        at = utcnow() - dt.timedelta(days=i)
        door_alert(ledger, "north", None, "confirmed", at, 0.9 * threshold, drifting)
        door_alert(ledger, "north", None, "confirmed", at, 0.5 * threshold, fresh)
    card = world.call(staff, "GET", f"/members/{drifting}").json()
    assert card["refresh_photos"] is True
    assert card["refresh_photos_reason"].startswith("ask to refresh the photos at the kiosk")
    calm = world.call(staff, "GET", f"/members/{fresh}").json()
    assert (calm["refresh_photos"], calm["refresh_photos_reason"]) == (False, None)
    # The kiosk learns it when the member next claims, and can offer new photos then.
    add_camera(ledger, "north", "till", "till.mp4", "verify", True)
    for member_id, asked in ((drifting, True), (fresh, False)):
        body = {"camera": "till", "site": "north", "member_id": member_id}
        claimed = world.call(kiosk, "POST", "/claims", json=body)
        assert claimed.status_code == 201
        assert (claimed.json()["refresh_photos"] == card["refresh_photos_reason"]) is asked
        assert (claimed.json()["refresh_photos"] is None) is not asked


def test_withdrawal_twice_gives_a_second_empty_receipt(world: World) -> None:
    kiosk, member_id = world.principal("kiosk"), world.member()
    first = world.call(kiosk, "POST", f"/members/{member_id}/withdraw").json()
    second = world.call(kiosk, "POST", f"/members/{member_id}/withdraw").json()
    assert first["withdrawn_consents"] == 1 and second["withdrawn_consents"] == 0
    assert first["receipt_id"] != second["receipt_id"]
    with world.ledgers["acme"].store.transaction() as s:
        assert s.execute(select(Template).where(Template.member_id == member_id)).first() is None


def _entries(world: World, action: str, subject: str) -> list[AuditEntry]:
    with world.ledgers["acme"].store.transaction() as s:
        query = select(AuditEntry).where(AuditEntry.action == action, AuditEntry.subject == subject)
        return list(s.execute(query).scalars())


def test_member_list_offsets_are_bounded(world: World) -> None:
    """An offset past 64 bits once reached the database and overflowed (500)."""
    staff = world.principal("staff")
    for offset in (2**63, 10**9):
        response = world.call(staff, "GET", "/sites/north/members", params={"offset": offset})
        assert response.status_code == 422 and "offset" in response.json()["error"]
    page = world.call(staff, "GET", "/sites/north/members", params={"offset": 10**9 - 1})
    assert page.status_code == 200 and page.json()["items"] == []


def test_consent_input_is_read_strictly(world: World) -> None:
    """Booleans are JSON booleans, ages JSON integers, expiries ISO 8601 times with an offset
    before 2200: nothing is guessed, and nothing is stored."""
    kiosk, member_id = world.principal("kiosk"), world.member(consent=False)
    before = world.rows()
    loose_fields: list[tuple[dict[str, Any], str]] = [
        ({"chain_scope": "yes"}, "chain_scope"),
        ({"chain_scope": 1}, "chain_scope"),
        ({"age": "40"}, "age"),
        ({"age": 40.5}, "age"),
        ({"expires": 4102444800}, "expires"),
        ({"expires": "4102444800"}, "expires"),
        ({"expires": "2099-01-01"}, "expires"),
    ]
    for loose, says in loose_fields:
        body = {"purpose": "recognition", "evidence_text": "yes", **loose}
        response = world.call(kiosk, "POST", f"/members/{member_id}/consents", json=body)
        assert response.status_code == 422 and says in response.json()["error"], loose
    far = world.call(
        kiosk,
        "POST",
        f"/members/{member_id}/consents",
        json={
            "purpose": "recognition",
            "evidence_text": "yes",
            "expires": "9999-12-31T23:59:59-23:59",
        },
    )
    assert (
        far.status_code == 400 and "expires must lie between 2000 and 2199" in far.json()["error"]
    )
    assert world.rows() == before


def test_rectification_and_erasure_over_the_api(world: World) -> None:
    admin, kiosk, member_id = world.principal("admin"), world.principal("kiosk"), world.member()
    path = f"/members/{member_id}"
    # A kiosk enrols and withdraws, but may not change or erase a member's record.
    assert world.call(kiosk, "PATCH", path, json={"name": "X"}).status_code == 403
    assert world.call(kiosk, "POST", f"{path}/erase").status_code == 403

    nothing = world.call(admin, "PATCH", path, json={})
    assert nothing.status_code == 400 and "nothing to rectify" in nothing.json()["error"]
    assert world.call(admin, "PATCH", path, json={"name": ""}).status_code == 422
    fixed = world.call(admin, "PATCH", path, json={"name": "Ada Lovelace", "profile": {"t": 1}})
    assert fixed.status_code == 200 and fixed.json()["name"] == "Ada Lovelace"
    assert world.call(admin, "GET", path).json()["profile"] == {"t": 1}
    assert [e.details for e in _entries(world, "member.rectify", member_id)] == [
        {"fields": ["name", "profile"]}
    ]

    receipt = world.call(admin, "POST", f"{path}/erase")
    assert receipt.status_code == 200
    body = receipt.json()
    assert body["member_id"] == member_id and body["withdrawn_consents"] == 1
    assert body["deleted"]["consents"] == 1 and admin.user in body["by"]
    assert world.call(admin, "GET", path).status_code == 404
    assert world.call(admin, "POST", f"{path}/erase").status_code == 404
    (entry,) = _entries(world, "member.erase", member_id)
    assert entry.seq == body["audit_entry"]
