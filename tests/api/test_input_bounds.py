"""Issue 13, items 3 and 9 over the API: an oversized member profile and a name with invisible
formatting or text-direction characters are a 400 that stores nothing, and error messages do not
repeat what was submitted (at most a short, escaped quote of it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from consentcam.consent.members import MAX_PROFILE_FIELDS, MAX_PROFILE_VALUE_CHARS
from tests.support.seed import World

# Under any request body limit (item 1), over the profile bounds.
LONG_VALUE = {"note": "x" * (MAX_PROFILE_VALUE_CHARS + 1)}
MANY_FIELDS = {f"k{i}": 1 for i in range(MAX_PROFILE_FIELDS + 1)}
MARKUP = "<img src=x onerror=alert(1)>"


def _refused(world: World, role: str, method: str, path: str, **kwargs: Any) -> str:
    before = world.rows()
    response = world.call(world.principal(role), method, path, **kwargs)
    assert response.status_code == 400, response.text
    assert world.rows() == before
    body = response.json()
    assert set(body) == {"error"}
    return str(body["error"])


@pytest.mark.parametrize("profile", [LONG_VALUE, MANY_FIELDS], ids=["long value", "many fields"])
def test_a_kiosk_cannot_store_an_oversized_profile(world: World, profile: dict[str, Any]) -> None:
    message = _refused(
        world,
        "kiosk",
        "POST",
        "/members",
        json={"site": "north", "name": "Ada", "profile": profile},
    )
    assert "profile" in message and "xxxx" not in message


@pytest.mark.parametrize("profile", [LONG_VALUE, MANY_FIELDS], ids=["long value", "many fields"])
def test_a_rectification_cannot_store_an_oversized_profile(
    world: World, profile: dict[str, Any]
) -> None:
    member = world.member()
    message = _refused(world, "admin", "PATCH", f"/members/{member}", json={"profile": profile})
    assert "profile" in message
    card = world.call(world.principal("admin"), "GET", f"/members/{member}").json()
    assert card["profile"] == {"tier": "gold"}


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("POST", "/sites", {"name": "abc\u202egnp.exe", "jurisdiction": "eu"}),
        ("POST", "/members", {"site": "north", "name": "Ada\u2066Lovelace\u2069"}),
        (
            "POST",
            "/sites/north/cameras",
            {"name": "door\u200e2", "source": "a.mp4", "mode": "count"},
        ),
    ],
)
def test_names_with_direction_characters_are_refused(
    world: World, method: str, path: str, field: dict[str, Any]
) -> None:
    message = _refused(world, "admin", method, path, json=field)
    assert "U+" in message and field["name"] not in message


def test_rectifying_a_name_to_a_direction_override_is_refused(world: World) -> None:
    member = world.member()
    message = _refused(
        world, "admin", "PATCH", f"/members/{member}", json={"name": "abc\u202egnp.exe"}
    )
    assert "U+202E" in message


def test_a_duplicate_site_name_is_not_echoed(world: World) -> None:
    admin = world.principal("admin")
    assert world.call(
        admin, "POST", "/sites", json={"name": MARKUP, "jurisdiction": "eu"}
    ).is_success
    again = world.call(admin, "POST", "/sites", json={"name": MARKUP, "jurisdiction": "eu"})
    assert again.status_code == 409
    assert "<" not in again.text and "img" not in again.text


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/sites/{v}", None),
        ("/sites/{v}/signage", None),
        ("/sites/{v}/members", None),
        ("/members/{v}", None),
        ("/compliance/ropa", "site"),
        ("/events", "site"),
        ("/events/stream", "site"),
    ],
)
def test_a_missing_name_is_quoted_short_and_escaped(
    world: World, path: str, query: str | None
) -> None:
    admin = world.principal("admin")
    for value in (MARKUP, "a\u202eb", "y" * 150):
        if query is None:
            response = world.call(admin, "GET", path.format(v=quote(value, safe="")))
        else:
            response = world.call(admin, "GET", path, params={query: value})
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert "<" not in error and "\u202e" not in error, error
        assert "y" * 41 not in error and len(error) < 200, error
