"""Refused requests: a 4xx with a JSON body, and nothing stored (every table's row count is the
same after). Not-found answers do not tell apart what does not exist, what belongs to another
tenant and what lies outside the caller's sites."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.support.seed import World

CSV_HEADER = "member_id,time,items,amount,currency\n"


def _refusals(member_id: str) -> list[tuple[str, str, dict[str, Any], int]]:
    consents = f"/members/{member_id}/consents"
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()

    def consent(**fields: Any) -> dict[str, Any]:
        return {"json": {"purpose": "recognition", "evidence_text": "yes", **fields}}

    return [
        # Profile codes are an enum in the document, so an unknown one is schema-invalid.
        ("POST", "/sites", {"json": {"name": "x", "jurisdiction": "mars"}}, 422),
        ("POST", "/sites", {"json": {"name": "north", "jurisdiction": "eu"}}, 409),
        ("POST", "/sites", {"json": {"name": "", "jurisdiction": "eu"}}, 422),
        ("POST", "/sites", {"json": {"name": "x", "jurisdiction": "eu", "owner": "me"}}, 422),
        (
            "POST",
            "/sites",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            422,
        ),
        (
            "POST",
            "/sites/north/cameras",
            {"json": {"name": "c", "source": "s", "mode": "spy"}},
            400,
        ),
        (
            "POST",
            "/sites/north/cameras",
            {"json": {"name": "c", "source": "s", "mode": "count", "line": [0, 0, 2, 2]}},
            400,
        ),
        (
            "POST",
            "/sites/north/cameras",
            {"json": {"name": "door", "source": "s", "mode": "count"}},
            409,
        ),
        (
            "POST",
            "/sites/nowhere/cameras",
            {"json": {"name": "c", "source": "s", "mode": "count"}},
            404,
        ),
        ("POST", "/members", {"json": {"site": "nowhere", "name": "A"}}, 404),
        ("POST", "/members", {"json": {"site": "north", "name": "bell\x07"}}, 400),
        ("POST", "/members", {"json": {"site": "north", "name": "A", "profile": {"x": [1]}}}, 422),
        ("POST", consents, consent(purpose="marketing"), 400),
        ("POST", consents, consent(channel="phone"), 400),
        ("POST", consents, consent(evidence="eWVz"), 422),
        ("POST", consents, {"json": {"purpose": "recognition"}}, 422),
        ("POST", consents, {"json": {"purpose": "recognition", "evidence": "%%%"}}, 400),
        ("POST", consents, consent(evidence_text="  "), 400),
        ("POST", consents, consent(expires=past), 400),
        ("POST", consents, consent(expires="2099-01-01T00:00:00"), 422),
        ("POST", consents, consent(age=200), 422),
        ("POST", consents, consent(age="12"), 422),
        ("POST", consents, consent(chain_scope=1), 422),
        ("POST", consents, consent(expires=1_900_000_000), 422),
        ("POST", consents, consent(expires="2300-01-01T00:00:00Z"), 400),
        ("POST", consents, consent(notice_version="v 1"), 422),
        ("POST", "/members/nobody/consents", consent(), 404),
        ("POST", "/members/nobody/withdraw", {}, 404),
        ("POST", "/webhooks", {"json": {"url": "https://user:pw@hooks.example/x"}}, 400),
        # A cloud metadata address: never a receiver, even in development.
        ("POST", "/webhooks", {"json": {"url": "http://169.254.169.254/latest/"}}, 403),
        ("POST", "/webhooks", {"json": {"url": "https://hooks.example/x", "site": "nowhere"}}, 404),
        ("DELETE", "/webhooks/nothing", {}, 404),
        ("POST", "/purchases", {"content": "", "headers": {"content-type": "text/csv"}}, 400),
        (
            "POST",
            "/purchases",
            {"content": CSV_HEADER + "a,b", "headers": {"content-type": "text/csv"}},
            400,
        ),
    ]


def test_refused_requests_store_nothing(world: World) -> None:
    admin, member_id = world.principal("admin"), world.member(consent=False)
    wrong = []
    for method, path, kwargs, status in _refusals(member_id):
        before = world.rows()
        response = world.call(admin, method, path, **kwargs)
        body = response.json()
        if response.status_code != status or not isinstance(body, dict):
            wrong.append(f"{method} {path} {kwargs}: {response.status_code} {response.text}")
        if set(body) != {"error"}:  # validation errors (422) included
            wrong.append(f"{method} {path}: body {body}")
        if world.rows() != before:
            wrong.append(f"{method} {path} {kwargs}: stored something")
    assert not wrong, "\n".join(wrong)


def test_not_found_reads_the_same_for_missing_foreign_and_out_of_scope(world: World) -> None:
    west_member = world.member(site="west")
    north_member = world.member()
    confined = world.principal("admin", sites=("south",))
    admin = world.principal("admin")

    def error(principal: Any, path: str) -> dict[str, Any]:
        response = world.call(principal, "GET", path)
        assert response.status_code == 404
        return dict(response.json())

    assert error(admin, "/sites/west") == {"error": "no site named 'west'"}
    assert error(confined, "/sites/north") == {"error": "no site named 'north'"}
    assert error(admin, "/sites/atlantis") == {"error": "no site named 'atlantis'"}
    assert error(admin, f"/members/{west_member}") == {"error": f"no member {west_member!r}"}
    assert error(confined, f"/members/{north_member}") == {"error": f"no member {north_member!r}"}
