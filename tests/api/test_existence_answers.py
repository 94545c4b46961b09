"""Issue 13, item 6: what lies outside a caller's sites answers exactly as what does not exist,
byte for byte, and no answer carries an internal id. The review found site b's id in the
signage, compliance and event-stream answers of a caller confined to site a, and claims that
told a member at another site (400) from a missing one (404).

Acme's caller confined to ``south`` and globex's caller send the same requests naming acme's
``north``: out of scope for the first, missing for the second.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from consentcam.consent.sites import add_camera
from consentcam.store.models import Camera
from tests.support.seed import World

# (method, path, keyword arguments) naming acme's site north.
SITE_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/sites/north/signage", {}),
    ("GET", "/sites/north/signage", {"params": {"format": "pdf"}}),
    ("GET", "/compliance/ropa", {"params": {"site": "north"}}),
    ("GET", "/compliance/dpia", {"params": {"site": "north", "format": "md"}}),
    ("GET", "/events", {"params": {"site": "north"}}),
    ("GET", "/events/stream", {"params": {"site": "north"}}),
    ("GET", "/footfall", {"params": {"site": "north"}}),
    ("POST", "/claims", {"json": {"camera": "door", "site": "north", "member_id": "m" * 32}}),
    ("GET", "/cameras/door/preview", {"params": {"site": "north"}}),
    (
        "PUT",
        "/cameras/door/line",
        {"params": {"site": "north"}, "json": {"start": {"x": 0, "y": 0}, "end": {"x": 1, "y": 1}}},
    ),
]


def _internal_ids(world: World) -> list[str]:
    with world.ledgers["acme"].store.transaction() as s:
        cameras = list(s.execute(select(Camera.id)).scalars())
    return [*world.tenant_ids.values(), *(site.id for site in world.sites.values()), *cameras]


def _answer(world: World, role: str, tenant: str, sites: tuple[str, ...], request: Any) -> bytes:
    method, path, kwargs = request
    response: httpx.Response = world.call(
        world.principal(role, tenant, sites), method, path, **kwargs
    )
    assert response.status_code == 404, (role, tenant, path, response.text)
    return response.content


@pytest.mark.parametrize("request_", SITE_REQUESTS, ids=lambda r: f"{r[0]} {r[1]} {r[2]}")
def test_a_site_out_of_scope_answers_as_a_missing_one(world: World, request_: Any) -> None:
    role = "admin" if request_[1] != "/compliance/dpia" else "owner"
    out_of_scope = _answer(world, role, "acme", ("south",), request_)
    missing = _answer(world, role, "globex", (), request_)
    assert out_of_scope == missing
    assert not [i for i in _internal_ids(world) if i.encode() in out_of_scope], out_of_scope


def test_a_camera_name_at_another_site_is_not_ambiguous_for_a_confined_caller(
    world: World,
) -> None:
    """Both acme sites have a camera 'door': a caller confined to south means south's, and must
    not learn from a 400 'several sites have a camera named' that north has one too."""
    member = world.member("south")
    response = world.call(
        world.principal("kiosk", "acme", ("south",)),
        "POST",
        "/claims",
        json={"camera": "door", "member_id": member},
    )
    assert response.status_code == 403, response.text  # door mode: reached the camera
    assert "verify mode" in response.text and "several" not in response.text


def test_a_claim_for_a_member_of_another_site_answers_as_for_a_missing_member(
    world: World,
) -> None:
    add_camera(world.ledgers["acme"], "south", "kiosk", "kiosk.mp4", "verify", True)
    kiosk = world.principal("kiosk")
    north_member = world.member("north")
    west_member = world.member("west")
    missing_member = "0" * 32

    def answer(member_id: str) -> httpx.Response:
        body = {"camera": "kiosk", "site": "south", "member_id": member_id}
        return world.call(kiosk, "POST", "/claims", json=body)

    answers = {m: answer(m) for m in (north_member, west_member, missing_member)}
    for response in answers.values():
        assert response.status_code == 404, response.text
    shapes = {r.content.replace(m.encode(), b"<id>") for m, r in answers.items()}
    assert len(shapes) == 1, shapes
    assert world.rows()["claims"] == 0


def test_a_claim_for_a_camera_out_of_scope_answers_as_for_a_missing_camera(
    world: World,
) -> None:
    add_camera(world.ledgers["acme"], "north", "kiosk", "kiosk.mp4", "verify", True)
    member = world.member("north")
    body = {"json": {"camera": "kiosk", "member_id": member}}
    request = ("POST", "/claims", body)
    confined = _answer(world, "kiosk", "acme", ("south",), request)
    other_tenant = _answer(world, "kiosk", "globex", (), request)
    assert confined == other_tenant
    with world.ledgers["acme"].store.transaction() as s:
        camera_ids = list(s.execute(select(Camera.id)).scalars())
    assert not [i for i in camera_ids if i.encode() in confined]
