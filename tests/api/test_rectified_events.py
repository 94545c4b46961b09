"""Issue 13, item 8 over the API: after ``PATCH /members/{id}`` the event history shows the
corrected name and profile, never the old ones (the review found the old name in
``GET /api/v1/events``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from consentcam.store.models import Member
from tests.support.events import Place, record
from tests.support.seed import World


def test_the_event_history_shows_the_rectified_card(world: World) -> None:
    admin, staff = world.principal("admin"), world.principal("staff")
    member_id = world.member()
    ledger = world.ledgers["acme"]
    with ledger.store.transaction() as s:
        member = s.execute(select(Member).where(Member.id == member_id)).scalar_one()
        card: dict[str, Any] = {"id": member.id, "name": member.name, "profile": member.profile}
        where = Place(member.tenant_id, member.site_id, "north", member.id)
    record(ledger, where, camera="door", member=card, distance=0.4)

    fixed = world.call(
        admin, "PATCH", f"/members/{member_id}", json={"name": "Ada Lovelace", "profile": {}}
    )
    assert fixed.status_code == 200, fixed.text

    events = world.call(staff, "GET", "/events", params={"site": "north"}).json()["items"]
    shown = [e["payload"]["member"] for e in events if e["member_id"] == member_id]
    assert shown == [{"id": member_id, "name": "Ada Lovelace", "profile": {}}]
    assert card["name"] not in str(events)
