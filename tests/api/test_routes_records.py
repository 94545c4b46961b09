"""Purchases, events, footfall, the audit log, webhooks and retention over the API."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from consentcam.consent.context import camera_by_ref
from consentcam.events.outbox import record_event
from consentcam.pipeline.footfall import add_footfall
from consentcam.store.models import AuditEntry, utcnow
from consentcam.track.footfall import FootfallCounts
from tests.support.seed import World

CSV_HEADER = "member_id,time,items,amount,currency\n"


def _csv(*rows: str) -> str:
    return CSV_HEADER + "".join(f"{r}\n" for r in rows)


def test_purchases_import_as_csv_body_or_multipart_file(world: World) -> None:
    admin, member_id = world.principal("admin"), world.member()
    before = world.rows()["purchases"]
    body = world.call(
        admin,
        "POST",
        "/purchases",
        content=_csv(f"{member_id},2024-05-01T10:00:00Z,tea,3.50,EUR"),
        headers={"content-type": "text/csv; charset=utf-8"},
    )
    assert body.status_code == 201 and body.json() == {"rows": 1, "members": 1}
    upload = world.call(
        admin,
        "POST",
        "/purchases",
        files={"file": ("pos.csv", _csv(f"{member_id},2024-05-02T10:00:00+02:00,,1,usd"))},
    )
    assert upload.status_code == 201 and upload.json() == {"rows": 1, "members": 1}
    assert world.rows()["purchases"] == before + 2


def test_a_bad_purchases_file_is_refused_whole(world: World) -> None:
    admin, member_id = world.principal("admin"), world.member()
    stranger = world.member(site="west")
    before = world.rows()
    good = f"{member_id},2024-05-01T10:00:00Z,tea,3.50,EUR"
    bad_amount = world.call(
        admin,
        "POST",
        "/purchases",
        content=_csv(good, f"{member_id},2024-05-01T11:00:00Z,tea,3.505,EUR"),
        headers={"content-type": "text/csv"},
    )
    assert bad_amount.status_code == 400
    assert bad_amount.json()["error"].startswith("purchases.csv: line 3: amount")
    other_tenant = world.call(
        admin,
        "POST",
        "/purchases",
        content=_csv(good, f"{stranger},2024-05-01T11:00:00Z,tea,1,EUR"),
        headers={"content-type": "text/csv"},
    )
    unknown = world.call(
        admin,
        "POST",
        "/purchases",
        content=_csv(good, "nobody,2024-05-01T11:00:00Z,tea,1,EUR"),
        headers={"content-type": "text/csv"},
    )
    assert other_tenant.status_code == unknown.status_code == 404
    assert other_tenant.json()["error"] == f"purchases.csv: line 3: no member {stranger!r}"
    wrong_type = world.call(admin, "POST", "/purchases", json={"rows": []})
    assert wrong_type.status_code == 400
    assert world.rows() == before


def _event(world: World, site: str, n: int) -> None:
    ledger = world.ledgers["globex" if site == "west" else "acme"]
    where = world.sites[site]
    with ledger.store.transaction() as s:
        record_event(
            s,
            tenant_id=where.tenant_id,
            site_id=where.id,
            camera_id=None,
            member_id=None,
            kind="recognition",
            payload={"n": n},
            at=utcnow(),
        )


def test_events_list_only_the_callers_sites_newest_last(world: World) -> None:
    for n, site in enumerate(["north", "west", "south", "north", "south"]):
        _event(world, site, n)
    staff = world.principal("staff")
    everything = world.call(staff, "GET", "/events").json()
    assert [e["payload"]["n"] for e in everything["items"]] == [0, 2, 3, 4]
    latest = world.call(staff, "GET", "/events", params={"limit": 2}).json()
    assert [e["payload"]["n"] for e in latest["items"]] == [3, 4]
    first = world.call(staff, "GET", "/events", params={"after": 0, "limit": 2}).json()
    following = world.call(staff, "GET", "/events", params={"after": first["last_seq"]}).json()
    assert [e["payload"]["n"] for e in first["items"] + following["items"]] == [0, 2, 3, 4]
    scoped = world.principal("staff", sites=("south",))
    assert [e["payload"]["n"] for e in world.call(scoped, "GET", "/events").json()["items"]] == [
        2,
        4,
    ]
    globex = world.call(world.principal("staff", "globex"), "GET", "/events").json()
    assert [e["payload"]["n"] for e in globex["items"]] == [1]
    # Alerts carry member cards: every read is audited with its sites and count.
    with world.ledgers["acme"].store.transaction() as s:
        query = select(AuditEntry).where(AuditEntry.action == "event.list")
        entries = list(s.execute(query.order_by(AuditEntry.seq)).scalars())
    assert [e.details["count"] for e in entries[-6:]] == [4, 2, 2, 2, 2, 1]  # this test's reads
    assert entries[-2].details["sites"] == ["south"]


def test_footfall_report_with_totals_by_site_and_camera(world: World) -> None:
    hour = dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    with world.ledgers["acme"].store.transaction() as s:
        north = camera_by_ref(s, "door", "north", world.tenant_ids["acme"])
        south = camera_by_ref(s, "door", "south", world.tenant_ids["acme"])
        add_footfall(s, north.id, {hour: FootfallCounts(5, 3, 120, 4)})
        add_footfall(s, north.id, {hour + dt.timedelta(hours=1): FootfallCounts(1, 1, 30, 1)})
        add_footfall(s, south.id, {hour: FootfallCounts(2, 2, 0, 0)})
    staff = world.principal("staff")
    period = {"since": "2024-05-01T00:00:00Z", "until": "2024-05-02T00:00:00Z"}
    report = world.call(staff, "GET", "/footfall", params=period).json()
    assert report["totals"] == {"entries": 8, "exits": 6, "visits": 5, "dwell_seconds": 150}
    rows = {(r["site"], r["hour"][11:13]): r["mean_dwell_s"] for r in report["rows"]}
    assert rows == {("north", "10"): 30.0, ("north", "11"): 30.0, ("south", "10"): None}
    at_north = world.call(staff, "GET", "/footfall", params={**period, "site": "north"}).json()
    assert at_north["totals"]["entries"] == 6
    by_id = world.call(staff, "GET", "/footfall", params={**period, "camera": south.id}).json()
    assert by_id["totals"]["entries"] == 2
    scoped = world.call(
        world.principal("staff", sites=("south",)), "GET", "/footfall", params=period
    )
    assert scoped.json()["totals"]["entries"] == 2
    hidden = world.call(
        world.principal("staff", sites=("south",)),
        "GET",
        "/footfall",
        params={**period, "camera": north.id},
    )
    assert hidden.status_code == 404 and hidden.json() == {"error": f"no camera {north.id!r}"}
    backwards = world.call(
        staff, "GET", "/footfall", params={"since": period["until"], "until": period["since"]}
    )
    naive = world.call(staff, "GET", "/footfall", params={"since": "2024-05-01T00:00:00"})
    assert (backwards.status_code, naive.status_code) == (400, 422)


def test_audit_log_pages_through_the_tenants_entries_and_verifies(own_world: World) -> None:
    world = own_world
    owner = world.principal("owner")
    world.call(owner, "GET", f"/members/{world.member()}")
    page = world.call(owner, "GET", "/audit", params={"limit": 3}).json()
    rest = world.call(owner, "GET", "/audit", params={"after_seq": page["next_after_seq"]}).json()
    entries = page["entries"] + rest["entries"]
    actions = [e["action"] for e in entries]
    assert actions[:2] == ["site.add", "camera.add"] and actions[-1] == "member.view"
    globex = world.call(world.principal("auditor", "globex"), "GET", "/audit").json()
    assert [e["action"] for e in globex["entries"]] == ["site.add", "camera.add"]
    assert not {e["seq"] for e in globex["entries"]} & {e["seq"] for e in entries}
    assert world.call(owner, "GET", "/audit/verify").json()["ok"] is True
    anchor = world.call(owner, "GET", "/audit/anchor").json()
    assert anchor["seq"] == entries[-1]["seq"] and anchor["hash"] == entries[-1]["hash"]
    held = world.call(owner, "POST", "/audit/verify", json={"anchors": [anchor]}).json()
    assert held["ok"] is True
    bad = {"anchors": [{"seq": 1, "hash": "z" * 64}]}
    assert world.call(owner, "POST", "/audit/verify", json=bad).status_code == 422
    changed = {"anchors": [{**anchor, "hash": "0" * 64}]}
    rewritten = world.call(owner, "POST", "/audit/verify", json=changed).json()
    assert rewritten["ok"] is False and "rewritten" in rewritten["reason"]

    with world.ledgers["acme"].store.engine.begin() as conn:
        # What an attacker holding the database can do: drop the guard, then edit.
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_append_only ON audit"))
        else:
            conn.execute(text("DROP TRIGGER audit_no_update"))
        conn.execute(text("UPDATE audit SET actor = 'someone else' WHERE seq = 2"))
    broken = world.call(world.principal("auditor"), "GET", "/audit/verify").json()
    assert (broken["ok"], broken["first_bad_seq"]) == (False, 2)


def test_webhooks_by_site_and_for_the_whole_tenant(world: World) -> None:
    admin, scoped = world.principal("admin"), world.principal("admin", sites=("south",))
    everywhere = world.call(admin, "POST", "/webhooks", json={"url": "https://hooks.example/all"})
    south = world.call(
        scoped, "POST", "/webhooks", json={"url": "https://hooks.example/s", "site": "south"}
    )
    assert everywhere.status_code == south.status_code == 201
    assert south.json()["secret"].startswith("whsec_") and south.json()["site"] == "south"
    refused = world.call(scoped, "POST", "/webhooks", json={"url": "https://hooks.example/x"})
    assert refused.status_code == 403
    bad_url = world.call(admin, "POST", "/webhooks", json={"url": "ftp://hooks.example/x"})
    assert bad_url.status_code == 400

    listed = world.call(admin, "GET", "/webhooks").json()
    assert {w["url"] for w in listed} == {"https://hooks.example/all", "https://hooks.example/s"}
    assert all("secret" not in w for w in listed)
    assert [w["site"] for w in world.call(scoped, "GET", "/webhooks").json()] == ["south"]
    assert world.call(world.principal("admin", "globex"), "GET", "/webhooks").json() == []

    hidden = world.call(scoped, "DELETE", f"/webhooks/{everywhere.json()['id']}")
    assert hidden.status_code == 404
    removed = world.call(admin, "DELETE", f"/webhooks/{everywhere.json()['id']}")
    assert removed.status_code == 200 and removed.json()["url"] == "https://hooks.example/all"
    assert len(world.call(admin, "GET", "/webhooks").json()) == 1


def test_purge_is_for_the_owner_and_reports_what_it_deleted(world: World) -> None:
    owner = world.principal("owner")
    first = world.call(owner, "POST", "/purge")
    assert first.status_code == 200
    assert first.json()["templates_deleted"] == {
        "expired_consent": 0,
        "withdrawn_consent": 0,
        "inactive": 0,
    }
    assert world.call(world.principal("admin"), "POST", "/purge").status_code == 403
    with world.ledgers["acme"].store.transaction() as s:
        actors = s.execute(
            select(AuditEntry.actor).where(AuditEntry.action == "retention.purge")
        ).scalars()
        assert list(actors) == [owner.actor]


def test_seqs_past_the_stored_integers_are_refused_not_a_server_error(world: World) -> None:
    """after_seq and after beyond 64 bits once reached the database and overflowed (500);
    PostgreSQL stores seqs in 32 bits, so that is the bound on both backends."""
    owner = world.principal("owner")
    for path, name in (("/audit", "after_seq"), ("/events", "after")):
        for value in (2**31, 2**63, 2**64, -1):
            response = world.call(owner, "GET", path, params={name: value})
            assert response.status_code == 422 and name in response.json()["error"], (path, value)
        assert world.call(owner, "GET", path, params={name: 2**31 - 1}).status_code == 200


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        # The ends of Python's calendar: "until - 1 day" and the conversion to UTC overflowed.
        ({"until": "0001-01-01T00:00:00+00:00"}, 400, "until must lie between 2000 and 2199"),
        ({"until": "9999-12-31T23:59:59-23:59"}, 400, "until must lie between 2000 and 2199"),
        ({"since": "1999-12-31T23:59:59Z"}, 400, "since must lie between 2000 and 2199"),
        (
            {"since": "2199-12-31T00:00:00Z", "until": "2200-01-01T00:00:00Z"},
            400,
            "until must lie between",
        ),
        # Lax parsing read a number as a Unix time.
        ({"until": "0.5"}, 422, "until"),
        ({"since": "1714521600"}, 422, "since"),
        # A naive time would be a guess at the zone.
        ({"until": "2024-05-01T00:00:00"}, 422, "until"),
        ({"until": "2024-05-01"}, 422, "until"),
    ],
)
def test_footfall_periods_are_aware_iso_8601_times_in_range(
    world: World, params: dict[str, str], status: int, says: str
) -> None:
    response = world.call(world.principal("staff"), "GET", "/footfall", params=params)
    assert response.status_code == status and says in response.json()["error"]


def test_footfall_times_with_an_offset_come_back_in_utc(world: World) -> None:
    period = {"since": "2024-05-01T02:00:00+02:00", "until": "2024-05-01T12:00:00.5-02:00"}
    report = world.call(world.principal("staff"), "GET", "/footfall", params=period).json()
    assert report["since"].startswith("2024-05-01T00:00:00")
    assert report["until"].startswith("2024-05-01T14:00:00.5")
