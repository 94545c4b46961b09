"""Tenant, sites, cameras, notices and calibration over the API."""

from __future__ import annotations

import hashlib

from consentcam.consent.consents import notice_text
from consentcam.consent.profiles import PROFILES
from tests.support.seed import World


def test_tenant_and_site_lists_follow_the_callers_scope(world: World) -> None:
    acme = world.ledgers["acme"].tenant
    tenant = world.call(world.principal("owner"), "GET", "/tenant").json()
    assert tenant == {"name": acme, "sites": 2}
    confined = world.call(world.principal("owner", sites=("south",)), "GET", "/tenant").json()
    assert confined == {"name": acme, "sites": 1}

    names = [s["name"] for s in world.call(world.principal("staff"), "GET", "/sites").json()]
    assert names == ["north", "south"]
    other = world.call(world.principal("staff", "globex"), "GET", "/sites").json()
    assert [s["name"] for s in other] == ["west"]
    scoped = world.call(world.principal("staff", sites=("south",)), "GET", "/sites").json()
    assert [s["name"] for s in scoped] == ["south"]


def test_site_detail_is_the_compliance_summary(world: World) -> None:
    admin = world.principal("admin")
    world.call(admin, "POST", "/sites", json={"name": "shanghai", "jurisdiction": "cn"})
    camera = world.call(
        admin,
        "POST",
        "/sites/shanghai/cameras",
        json={
            "name": "lane",
            "source": "rtsp://viewer:s3cret@10.0.0.7:554/stream1?token=abc",
            "mode": "lane",
            "signage_attested": True,
            "line": [0.1, 0.5, 0.9, 0.5],
            "detect_scale": 0.5,
        },
    )
    assert camera.status_code == 201, camera.text
    detail = world.call(world.principal("staff"), "GET", "/sites/shanghai").json()
    assert detail["profile"]["code"] == "cn" and "door" not in detail["profile"]["allowed_modes"]
    (lane,) = detail["cameras"]
    assert lane["source"] == "rtsp://10.0.0.7:554/…"  # scheme, host and port only
    assert (lane["line"], lane["detect_scale"], lane["signage_attested"]) == (
        [0.1, 0.5, 0.9, 0.5],
        0.5,
        True,
    )
    assert detail["members"] == detail["enrolled_members"] == 0
    assert detail["filing"]["status"] == "ok" and detail["filing"]["file_at"] == 100_000
    assert world.call(admin, "GET", "/sites/north").json()["filing"] is None


def test_camera_refusals_come_from_the_profile_and_signage(world: World) -> None:
    admin = world.principal("admin")
    world.call(admin, "POST", "/sites", json={"name": "pdx", "jurisdiction": "us-portland"})
    before = world.rows()
    banned = world.call(
        admin,
        "POST",
        "/sites/pdx/cameras",
        json={"name": "door", "source": "d.mp4", "mode": "door", "signage_attested": True},
    )
    covert = world.call(
        admin,
        "POST",
        "/sites/north/cameras",
        json={"name": "covert", "source": "d.mp4", "mode": "lane"},
    )
    bad_scale = world.call(
        admin,
        "POST",
        "/sites/north/cameras",
        json={"name": "x", "source": "d.mp4", "mode": "count", "detect_scale": 9},
    )
    assert (banned.status_code, covert.status_code, bad_scale.status_code) == (403, 403, 400)
    assert "signage" in covert.json()["error"] and "detect_scale" in bad_scale.json()["error"]
    assert world.rows() == before
    cameras = world.call(admin, "GET", "/sites/north/cameras").json()
    assert [c["name"] for c in cameras] == ["door"]


def test_notice_is_the_text_a_consent_records(world: World) -> None:
    kiosk, before = world.principal("kiosk"), world.rows()
    v2 = world.call(kiosk, "GET", "/sites/north/notice", params={"version": "v2"}).json()
    assert v2["text"] == notice_text("eu", "v2")
    assert v2["sha256"] == hashlib.sha256(v2["text"].encode()).hexdigest()
    assert world.rows() == before  # reading stores nothing
    member_id = world.member(consent=False)
    consent = world.call(
        kiosk,
        "POST",
        f"/members/{member_id}/consents",
        json={"purpose": "recognition", "evidence_text": "yes", "notice_version": "v2"},
    ).json()
    assert consent["notice_sha256"] == v2["sha256"]
    bad = world.call(kiosk, "GET", "/sites/north/notice", params={"version": "../etc"})
    assert bad.status_code == 422


def test_calibration_report_counts_the_sites_gallery(world: World, fake_faces: None) -> None:
    kiosk, auditor = world.principal("kiosk"), world.principal("auditor")
    photo = [("photos", ("a.jpg", b"x", "image/jpeg"))]
    for _ in range(2):
        assert world.call(kiosk, "POST", f"/members/{world.member()}/enrol", files=photo).is_success
    report = world.call(auditor, "GET", "/sites/north/calibration").json()
    assert report["site"] == "north" and report["gallery_members"] == 2
    assert report["expected_false_alerts_per_1000_non_members"] >= 0
    stricter = world.call(
        auditor, "GET", "/sites/north/calibration", params={"target_fpir": 0.001}
    ).json()
    assert stricter["threshold"] <= report["threshold"]
    assert world.call(auditor, "GET", "/sites/south/calibration").json()["gallery_members"] == 0
    bad = world.call(auditor, "GET", "/sites/north/calibration", params={"target_fpir": 2})
    assert bad.status_code == 422


def test_admins_choose_the_cameras_false_alert_budget(world: World, fake_faces: None) -> None:
    """The calibration report shows the cameras' trade-off at the site's size; an admin picks
    the operating point (audited, in the report at once), others cannot, and a budget outside
    the measured range is refused with nothing changed."""
    admin, staff, auditor = (world.principal(r) for r in ("admin", "staff", "auditor"))
    before = world.call(auditor, "GET", "/sites/north/calibration").json()["cameras"]
    assert before["budget_source"] == "model card"
    budgets = [t["false_alerts_per_1000"] for t in before["tradeoff"]]
    assert budgets == sorted(budgets) and len(budgets) >= 3
    recalls = [t["expected_member_recall_1_photo"] for t in before["tradeoff"]]
    assert recalls == sorted(recalls), "more false alerts allowed, more members recognised"

    chosen = world.call(
        admin, "PUT", "/sites/north/calibration", json={"false_alerts_per_1000": budgets[-1]}
    )
    assert chosen.status_code == 200, chosen.text
    cameras = chosen.json()["cameras"]
    assert cameras["budget_source"] == "site" and cameras["false_alerts_per_1000"] == budgets[-1]
    assert cameras["threshold"] > before["threshold"]
    audit = world.call(world.principal("owner"), "GET", "/audit").json()["entries"]
    assert any(e["action"] == "site.false_alert_budget" for e in audit)

    denied = world.call(staff, "PUT", "/sites/north/calibration", json={"false_alerts_per_1000": 1})
    assert denied.status_code == 403
    refused = world.call(
        admin, "PUT", "/sites/north/calibration", json={"false_alerts_per_1000": 500}
    )
    assert refused.status_code == 400 and "outside the measured range" in refused.json()["error"]
    after = world.call(auditor, "GET", "/sites/north/calibration").json()["cameras"]
    assert after["false_alerts_per_1000"] == budgets[-1]
    reset = world.call(
        admin, "PUT", "/sites/north/calibration", json={"false_alerts_per_1000": None}
    )
    assert reset.json()["cameras"]["budget_source"] == "model card"


def test_the_notice_behind_a_signs_qr_code_needs_no_login(world: World) -> None:
    """A passer-by's phone reads the full notice from the sign's QR code (by site id); nothing
    else answers without credentials, and an unknown id is a plain 404."""
    sites = world.call(world.principal("staff"), "GET", "/sites").json()
    (north,) = [s["id"] for s in sites if s["name"] == "north"]
    world.app.dependency_overrides.clear()
    public = world.client.get(f"/api/v1/public/sites/{north}/notice")
    assert public.status_code == 200
    assert public.json()["text"] == notice_text("eu", "v1")
    assert world.client.get("/api/v1/public/sites/nope/notice").status_code == 404
    assert world.client.get("/api/v1/sites/north/notice").status_code == 401


def test_jurisdiction_is_one_of_the_profile_codes_in_the_document(world: World) -> None:
    document = world.app.openapi()
    codes = document["components"]["schemas"]["SiteIn"]["properties"]["jurisdiction"]["enum"]
    assert set(codes) == set(PROFILES)
    admin = world.principal("admin")
    unknown = world.call(admin, "POST", "/sites", json={"name": "moon", "jurisdiction": "mars"})
    assert unknown.status_code == 422 and "jurisdiction" in unknown.json()["error"]
    for code in ("us-portland", "none"):
        created = world.call(admin, "POST", "/sites", json={"name": code, "jurisdiction": code})
        assert created.status_code == 201 and created.json()["jurisdiction"] == code


def test_camera_input_is_read_strictly(world: World) -> None:
    """A face mode needs signage attested with JSON true, not a string or a number that lax
    parsing would take for it."""
    admin, before = world.principal("admin"), world.rows()
    camera = {"name": "lane", "source": "l.mp4", "mode": "lane"}
    for loose in (
        {"signage_attested": "true"},
        {"signage_attested": 1},
        {"signage_attested": True, "line": ["0", "0.5", "1", "0.5"]},
        {"signage_attested": True, "detect_scale": "0.5"},
    ):
        response = world.call(admin, "POST", "/sites/north/cameras", json=camera | loose)
        assert response.status_code == 422, loose
    assert world.rows() == before
    attested = world.call(
        admin, "POST", "/sites/north/cameras", json=camera | {"signage_attested": True}
    )
    assert attested.status_code == 201
