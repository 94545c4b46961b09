"""Authorisation matrix: every route of ``consentcam.api.routes`` x every role x (own tenant,
another tenant, a caller confined to another site of the same tenant).

The permission a route needs is read from its ``require(...)`` dependency and the answer
expected from ``PERMISSIONS``; only how to call each route (and what it targets) is written
here, and a test fails when a route is mounted without a case, so the table cannot drift.
"""

from __future__ import annotations

import inspect
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import select

from consentcam.api.routes import ROUTERS
from consentcam.api.security import PUBLIC_ROUTES
from consentcam.auth.roles import PERMISSIONS, ROLES
from consentcam.auth.tokens import issue_token
from consentcam.auth.users import add_user
from consentcam.consent.sites import add_camera
from consentcam.events.webhooks import add_webhook
from consentcam.store.models import Camera, User
from tests.support.auth import PASSWORD, use_fast_hashing
from tests.support.faces import fake_face
from tests.support.paths import PUBLIC_DOMAIN
from tests.support.seed import API, Server, World, new_world

Route = tuple[str, str]  # (method, path template under /api/v1)
Request = tuple[str, dict[str, Any]]  # (path, keyword arguments of the client call)


@dataclass(frozen=True)
class Case:
    """How to call a route against tenant acme's site ``north``. ``kind`` says what scope it
    needs: ``site`` (it names something at a site: outsiders get 404), ``tenant`` (it spans
    the tenant: a caller confined to some sites gets 403; another tenant's caller acts on its
    own tenant), ``list`` (everyone allowed gets their own share), ``tenant-record`` (it names
    one record of a tenant-wide kind, a user or a token: a caller confined to some sites gets
    403, another tenant's caller 404)."""

    kind: Literal["site", "tenant", "list", "tenant-record"]
    build: Callable[[World], Request]


def _csv(w: World) -> Request:
    body = f"member_id,time,items,amount,currency\n{w.member()},2024-05-01T10:00:00Z,tea,3.50,EUR\n"
    return "/purchases", {"content": body, "headers": {"content-type": "text/csv"}}


def _webhook(w: World) -> Request:
    webhook, _ = add_webhook(w.ledgers["acme"], "https://hooks.example/h", "north")
    return f"/webhooks/{webhook.id}", {}


def _removable_camera(w: World) -> Request:
    camera = add_camera(w.ledgers["acme"], "north", w.unique("cam"), "c.mp4", "count", False)
    return f"/sites/north/cameras/{camera.name}", {}


def _preview(w: World) -> Request:
    """A camera whose source is a folder with one photo of a face (the preview blurs it)."""
    name = w.unique("setup")
    folder = w.evidence.parent / f"{w.evidence.stem}-{name}"
    folder.mkdir()
    shutil.copy(PUBLIC_DOMAIN / "obama_small.jpg", folder / "frame.jpg")
    add_camera(w.ledgers["acme"], "north", name, str(folder), "count", False)
    return f"/cameras/{name}/preview", {"params": {"site": "north"}}


LINE = {"start": {"x": 0.1, "y": 0.5}, "end": {"x": 0.9, "y": 0.5}}


def _user_in_both(w: World) -> str:
    """A staff user of the same new name in acme and globex: tenant-wide routes naming a user
    act on the caller's own tenant's one."""
    name = w.unique("staff")
    for tenant in ("acme", "globex"):
        add_user(w.ledgers[tenant], name, "staff", PASSWORD)
    return name


def _user(w: World) -> str:
    """A new staff user of acme, by id."""
    name = w.unique("staff")
    return add_user(w.ledgers["acme"], name, "staff", PASSWORD).id


def _disabled_user(w: World) -> str:
    user_id = _user(w)
    with w.ledgers["acme"].store.transaction() as s:
        row = s.get(User, user_id)
        assert row is not None
        row.disabled = True
    return user_id


def _token(w: World) -> Request:
    name = w.unique("staff")
    add_user(w.ledgers["acme"], name, "staff", PASSWORD)
    return f"/tokens/{issue_token(w.ledgers['acme'], name, 'till').id}/revoke", {}


def _webhook_test(w: World) -> Request:
    # A loopback receiver (allowed on a development store) with nothing listening: the send
    # fails at once with a connection error, which the route reports as a 200 result.
    webhook, _ = add_webhook(w.ledgers["acme"], "http://127.0.0.1:9/h", "north")
    return f"/webhooks/{webhook.id}/test", {}


def _webhook_deliveries(w: World) -> Request:
    path, _ = _webhook(w)
    return f"{path}/deliveries", {}


PHOTO = {"files": [("photos", ("face.jpg", b"not decoded: the face is faked", "image/jpeg"))]}
CASES: dict[Route, Case] = {
    ("GET", "/tenant"): Case("list", lambda w: ("/tenant", {})),
    ("GET", "/sites"): Case("list", lambda w: ("/sites", {})),
    ("POST", "/sites"): Case(
        "tenant", lambda w: ("/sites", {"json": {"name": w.unique("site"), "jurisdiction": "eu"}})
    ),
    ("GET", "/sites/{site}"): Case("site", lambda w: ("/sites/north", {})),
    ("GET", "/sites/{site}/notice"): Case("site", lambda w: ("/sites/north/notice", {})),
    ("GET", "/sites/{site}/cameras"): Case("site", lambda w: ("/sites/north/cameras", {})),
    ("POST", "/sites/{site}/cameras"): Case(
        "site",
        lambda w: (
            "/sites/north/cameras",
            {"json": {"name": w.unique("cam"), "source": "entrance.mp4", "mode": "count"}},
        ),
    ),
    ("PATCH", "/sites/{site}/cameras/{camera}"): Case(
        "site", lambda w: ("/sites/north/cameras/door", {"json": {"detect_scale": 0.5}})
    ),
    ("DELETE", "/sites/{site}/cameras/{camera}"): Case("site", _removable_camera),
    ("GET", "/cameras/{camera}/preview"): Case("site", _preview),
    ("PUT", "/cameras/{camera}/line"): Case(
        "site", lambda w: ("/cameras/door/line", {"params": {"site": "north"}, "json": LINE})
    ),
    ("GET", "/sites/{site}/members"): Case("site", lambda w: ("/sites/north/members", {})),
    ("POST", "/members"): Case(
        "site", lambda w: ("/members", {"json": {"site": "north", "name": "New Member"}})
    ),
    ("GET", "/members/{member_id}"): Case("site", lambda w: (f"/members/{w.member()}", {})),
    ("POST", "/members/{member_id}/consents"): Case(
        "site",
        lambda w: (
            f"/members/{w.member(consent=False)}/consents",
            {"json": {"purpose": "recognition", "evidence_text": "ticked; typed A. Member"}},
        ),
    ),
    ("POST", "/members/{member_id}/enrol"): Case(
        "site", lambda w: (f"/members/{w.member()}/enrol", PHOTO)
    ),
    ("GET", "/members/{member_id}/portrait"): Case(
        "site", lambda w: (f"/members/{w.member_with_portrait()}/portrait", {})
    ),
    ("POST", "/members/{member_id}/withdraw"): Case(
        "site", lambda w: (f"/members/{w.member()}/withdraw", {})
    ),
    ("GET", "/members/{member_id}/export"): Case(
        "site", lambda w: (f"/members/{w.member()}/export", {})
    ),
    ("PATCH", "/members/{member_id}"): Case(
        "site", lambda w: (f"/members/{w.member()}", {"json": {"name": "Ada Lovelace"}})
    ),
    ("POST", "/members/{member_id}/erase"): Case(
        "site", lambda w: (f"/members/{w.member()}/erase", {})
    ),
    ("POST", "/purchases"): Case("site", _csv),
    ("GET", "/events"): Case("site", lambda w: ("/events", {"params": {"site": "north"}})),
    ("GET", "/footfall"): Case("site", lambda w: ("/footfall", {"params": {"site": "north"}})),
    ("GET", "/sites/{site}/calibration"): Case("site", lambda w: ("/sites/north/calibration", {})),
    ("PUT", "/sites/{site}/calibration"): Case(
        "site",
        lambda w: ("/sites/north/calibration", {"json": {"false_alerts_per_1000": 2}}),
    ),
    ("GET", "/sites/{site}/accuracy"): Case("site", lambda w: ("/sites/north/accuracy", {})),
    ("PUT", "/sites/{site}/accuracy/threshold"): Case(
        "site", lambda w: ("/sites/north/accuracy/threshold", {"json": {"threshold": None}})
    ),
    ("PUT", "/sites/{site}/accuracy/budget"): Case(
        "site", lambda w: ("/sites/north/accuracy/budget", {"json": {"dismissal_budget": 0.05}})
    ),
    ("GET", "/audit"): Case("tenant", lambda w: ("/audit", {})),
    ("GET", "/audit/verify"): Case("tenant", lambda w: ("/audit/verify", {})),
    ("POST", "/audit/verify"): Case(
        "tenant", lambda w: ("/audit/verify", {"json": {"anchors": []}})
    ),
    ("GET", "/audit/anchor"): Case("tenant", lambda w: ("/audit/anchor", {})),
    ("GET", "/webhooks"): Case("list", lambda w: ("/webhooks", {})),
    ("POST", "/webhooks"): Case(
        "site",
        lambda w: ("/webhooks", {"json": {"url": "https://hooks.example/n", "site": "north"}}),
    ),
    ("DELETE", "/webhooks/{webhook_id}"): Case("site", _webhook),
    ("POST", "/webhooks/{webhook_id}/test"): Case("site", _webhook_test),
    ("GET", "/webhooks/{webhook_id}/deliveries"): Case("site", _webhook_deliveries),
    ("POST", "/purge"): Case("tenant", lambda w: ("/purge", {})),
    # consentcam.api.routes.users and tokens
    ("GET", "/users"): Case("tenant", lambda w: ("/users", {})),
    ("POST", "/users"): Case(
        "tenant", lambda w: ("/users", {"json": {"name": w.unique("new"), "role": "staff"}})
    ),
    ("PATCH", "/users/{user_id}"): Case(
        "tenant-record", lambda w: (f"/users/{_user(w)}", {"json": {"role": "kiosk"}})
    ),
    ("POST", "/users/{user_id}/password"): Case(
        "tenant-record", lambda w: (f"/users/{_user(w)}/password", {})
    ),
    ("POST", "/users/{user_id}/disable"): Case(
        "tenant-record", lambda w: (f"/users/{_user(w)}/disable", {})
    ),
    ("POST", "/users/{user_id}/enable"): Case(
        "tenant-record", lambda w: (f"/users/{_disabled_user(w)}/enable", {})
    ),
    ("DELETE", "/users/{user_id}"): Case("tenant-record", lambda w: (f"/users/{_user(w)}", {})),
    ("GET", "/tokens"): Case("tenant", lambda w: ("/tokens", {})),
    ("POST", "/tokens"): Case(
        "tenant",
        lambda w: (
            "/tokens",
            {"json": {"user": _user_in_both(w), "label": "till", "role": "kiosk"}},
        ),
    ),
    ("POST", "/tokens/{token_id}/revoke"): Case("tenant-record", _token),
    # consentcam.api.routes.signage
    ("GET", "/sites/{site}/signage"): Case("site", lambda w: ("/sites/north/signage", {})),
    ("GET", "/compliance/ropa"): Case(
        "site", lambda w: ("/compliance/ropa", {"params": {"site": "north"}})
    ),
    ("GET", "/compliance/dpia"): Case(
        "site", lambda w: ("/compliance/dpia", {"params": {"site": "north"}})
    ),
}
# Who calls: acme with every site, globex with every site, acme confined to site south.
SCOPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "own": ("acme", ()),
    "other tenant": ("globex", ()),
    "other site": ("acme", ("south",)),
}


def router_routes() -> list[Route]:
    return [
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods or ())
        if API + route.path not in PUBLIC_ROUTES  # public by design: tested on their own
    ]


def permissions(dependant: Dependant) -> list[str]:
    """The permissions a route's ``require(...)`` dependencies ask for."""
    found = []
    for dep in dependant.dependencies:
        call = dep.call
        if getattr(call, "__qualname__", "") == "require.<locals>.dependency":
            assert call is not None
            found.append(str(inspect.getclosurevars(call).nonlocals["permission"]))
        found += permissions(dep)
    return found


def route_permission(route: Route) -> str:
    """The one permission ``route`` (of ``ROUTERS``) declares through ``require``."""
    method, path = route
    for router in ROUTERS:
        for r in router.routes:
            if isinstance(r, APIRoute) and r.path == path and method in (r.methods or ()):
                (permission,) = permissions(r.dependant)
                return permission
    raise AssertionError(f"{method} {path} is not in consentcam.api.routes.ROUTERS")


def expected(permission: str, kind: str, role: str, scope: str) -> int | None:
    """The status the matrix expects; None for any 2xx."""
    if permission not in PERMISSIONS[role]:
        return 403
    if scope == "own" or kind == "list":
        return None
    if kind == "tenant":
        return None if scope == "other tenant" else 403
    if kind == "tenant-record":
        return 404 if scope == "other tenant" else 403
    return 404


@pytest.fixture(scope="module")
def shared_world(server: Server) -> Iterator[World]:
    """One world per backend for the whole matrix: each case makes what it changes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("consentcam.vision.faces.enrolment_face", fake_face)
        use_fast_hashing(patch)  # the user and token routes add users for each call
        yield new_world(server)


def test_every_route_has_a_case_and_declares_one_known_permission() -> None:
    missing = set(router_routes()) - set(CASES)
    assert not missing, f"add a matrix case for each new route: {sorted(missing)}"
    granted = set().union(*PERMISSIONS.values())
    for route in router_routes():
        assert route_permission(route) in granted, f"{route}: no role holds its permission"


def test_every_route_is_mounted_under_api_v1(shared_world: World) -> None:
    paths = shared_world.app.openapi()["paths"]
    for method, path in router_routes():
        assert method.lower() in paths.get(API + path, {}), f"{method} {API}{path} not mounted"


@pytest.mark.parametrize("route", sorted(CASES), ids=lambda r: f"{r[0]} {r[1]}")
def test_matrix(shared_world: World, route: Route) -> None:
    if route not in router_routes():
        pytest.skip(f"{route[0]} {route[1]} is not in ROUTERS (yet)")
    case = CASES[route]
    permission = route_permission(route)
    internal = internal_ids(shared_world)
    wrong = []
    for role in ROLES:
        # The outsiders send the very same request, so their answers can be compared byte for
        # byte: for acme's caller confined to south, north's records are out of scope; for
        # globex's caller they do not exist.
        outsiders = case.build(shared_world)
        not_found: dict[str, bytes] = {}
        for scope, (tenant, sites) in SCOPES.items():
            path, kwargs = case.build(shared_world) if scope == "own" else outsiders
            caller = shared_world.principal(role, tenant, sites)
            response = shared_world.call(caller, route[0], path, **kwargs)
            want = expected(permission, case.kind, role, scope)
            ok = 200 <= response.status_code < 300 if want is None else response.status_code == want
            if not ok:
                wrong.append(f"{role}/{scope}: {response.status_code} {response.text[:200]}")
            if response.status_code == 404:
                assert set(response.json()) == {"error"}
                not_found[scope] = response.content
            if not response.is_success:
                sent = f"{path} {kwargs}"
                leaked = [i for i in internal if i in response.text and i not in sent]
                if leaked:
                    wrong.append(f"{role}/{scope}: internal id in {response.text[:200]}")
        if len(set(not_found.values())) > 1:
            wrong.append(f"{role}: out of scope and missing differ: {not_found}")
    assert not wrong, f"{route} needs {permission}:\n" + "\n".join(wrong)


def internal_ids(world: World) -> set[str]:
    """Ids a caller never sends in these requests (tenants, sites, cameras): no refusal may
    carry one."""
    with world.ledgers["acme"].store.transaction() as s:
        cameras = s.execute(select(Camera.id).where(Camera.site_id.in_(ids(world)))).scalars()
        return set(world.tenant_ids.values()) | set(ids(world)) | set(cameras)


def ids(world: World) -> list[str]:
    return [site.id for site in world.sites.values()]


def test_every_schema_forbids_unknown_keys_and_describes_its_fields() -> None:
    from pydantic import BaseModel

    from consentcam.api import schemas

    models = [
        m
        for m in vars(schemas).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == schemas.__name__
    ]
    assert len(models) > 30
    for model in models:
        assert model.model_config.get("extra") == "forbid", model.__name__
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
