"""Issue 13, item 7 over the API: ``GET /audit/anchor`` and ``/audit/verify`` showed a tenant the
head of the store-wide chain, i.e. how many entries every tenant together had written and when
the latest (another tenant's) action was. A tenant now sees its own entries only."""

from __future__ import annotations

from tests.support.seed import World


def test_anchor_and_verification_do_not_move_with_another_tenants_actions(
    world: World,
) -> None:
    acme, globex = world.principal("owner"), world.principal("owner", "globex")
    world.call(acme, "GET", f"/members/{world.member()}")  # an acme entry after globex's
    entries = world.call(acme, "GET", "/audit", params={"limit": 1000}).json()["entries"]
    anchor = world.call(acme, "GET", "/audit/anchor").json()
    verified = world.call(acme, "GET", "/audit/verify").json()
    assert (anchor["seq"], anchor["hash"]) == (entries[-1]["seq"], entries[-1]["hash"])
    assert verified == {"ok": True, "entries": len(entries), "first_bad_seq": None, "reason": None}

    for _ in range(3):  # globex keeps working
        world.call(globex, "POST", "/sites", json={"name": world.unique("g"), "jurisdiction": "eu"})

    assert world.call(acme, "GET", "/audit/anchor").json() == anchor
    assert world.call(acme, "GET", "/audit/verify").json() == verified
    held = world.call(acme, "POST", "/audit/verify", json={"anchors": [anchor]}).json()
    assert held == verified
    theirs = world.call(globex, "GET", "/audit/anchor").json()
    assert theirs["seq"] > anchor["seq"]
    # globex's anchor, tried by acme, reads as an entry acme's log does not hold.
    probe = world.call(acme, "POST", "/audit/verify", json={"anchors": [theirs]}).json()
    assert probe["ok"] is False and "cut back" in probe["reason"]
