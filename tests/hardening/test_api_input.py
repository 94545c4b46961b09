"""The bad-input corpus through the HTTP API, authenticated with a real API token: every refusal
is a 4xx with a JSON body ``{"error": ...}`` (never a 5xx) and leaves every table and the data
directory byte-for-byte as they were; a legal hostile-looking name is stored verbatim."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from consentcam.api.app import create_app
from consentcam.auth.tokens import issue_token
from consentcam.auth.users import add_user
from consentcam.consent.consents import record_consent
from consentcam.consent.context import open_ledger
from consentcam.consent.members import add_member
from tests.hardening.corpus import (
    DIRECTION_OVERRIDE,
    HOSTILE,
    LEGAL_HOSTILE,
    LONE_SURROGATE,
    NEWLINE,
    NUL,
    TOO_LONG,
    ImageCorpus,
    Snapshot,
    bad_csv_files,
    label,
    rows_where,
    snapshot,
)
from tests.hardening.support import Ctx, populate
from tests.support.clients import TestClient
from tests.support.stores import BACKENDS, backend_settings

API = "/api/v1"
MB = 1024 * 1024
NESTING = 10_000


@dataclass
class Api:
    """A running app over a store, a tenant of its own (site ``shop`` with cameras and a
    consenting member) and its owner's API token."""

    client: TestClient
    app: Any
    ctx: Ctx
    token: str
    warmed: list[float] = field(default_factory=lambda: [0.0])

    def snapshot(self) -> Snapshot:
        return snapshot(self.ctx.ledger.store, self.ctx.settings)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.app.state.rate_limits = None  # the corpus is many calls from one address
        headers = {"authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        response: httpx.Response = self.client.request(
            method, API + path, headers=headers, **kwargs
        )
        return response

    def warm(self) -> None:
        """A token records when it was last used (at most once a minute): use it now, so the
        request under test does not write that."""
        if time.monotonic() - self.warmed[0] > 30:
            assert self.request("GET", "/auth/me").status_code == 200
            self.warmed[0] = time.monotonic()


@dataclass(frozen=True)
class Server:
    client: TestClient
    app: Any
    ctx: Ctx


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("api")
    with backend_settings(request.param, folder / "store") as settings:
        ledger = open_ledger(settings, "test:setup", create=True)
        ctx = populate(ledger, settings, folder, "entrance.mp4")
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Server(client, app, ctx)
        ledger.store.engine.dispose()


@pytest.fixture
def api(server: Server) -> Api:
    """A new tenant on the module's store, so what one test adds (a site named like an
    injection) is not what another looks up."""
    ctx = server.ctx.fresh()
    add_user(ctx.ledger, "owner", "owner", "correct horse battery staple")
    token = issue_token(ctx.ledger, "owner", "hardening").token
    return Api(server.client, server.app, ctx, token)


Call = tuple[str, str, str, dict[str, Any]]  # method, path, name in messages, client kwargs


def response_problems(name: str, response: httpx.Response) -> list[str]:
    found = []
    if not 400 <= response.status_code < 500:
        found.append(f"{name}: status {response.status_code}: {response.text[:200]!r}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not (isinstance(body, dict) and isinstance(body.get("error"), str)):
        found.append(f"{name}: body is not {{'error': ...}}: {response.text[:200]!r}")
    return found


def refusals(api: Api, calls: list[Call], *, audited: bool = False) -> list[str]:
    """Send requests that must each be refused; what is wrong with how they were. The store is
    compared before and after the whole batch, and, if it changed, request by request to name
    the culprit. ``audited``: refusals the audit log records by design (failed logins): a new
    audit entry after a 401 is the only change allowed."""
    api.warm()
    before = api.snapshot()
    found: list[str] = []
    unauthorised = False
    for method, path, name, kwargs in calls:
        response = api.request(method, path, **kwargs)
        unauthorised |= response.status_code == 401
        found += response_problems(name, response)
    changed = before.diff(api.snapshot())
    if audited and unauthorised:
        changed = [c for c in changed if c != "table audit"]
    if changed and len(calls) == 1:
        found.append(f"{calls[0][2]}: refused, but changed {', '.join(changed)}")
    elif changed:
        culprits = [problem for call in calls for problem in refusals(api, [call])]
        found += culprits or [f"the batch changed {', '.join(changed)}"]
    return found


def refused(api: Api, method: str, path: str, what: str | None = None, **kwargs: Any) -> list[str]:
    """One request that must be refused."""
    return refusals(api, [(method, path, what or f"{method} {label(path)}", kwargs)])


def raw_json(text: str) -> dict[str, Any]:
    """Request arguments for a JSON body given as text (escapes such as \\ud800 kept as
    written: json.dumps would not write a lone surrogate the way a hostile client does)."""
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


def put(template: str, json_text: str) -> str:
    """``template`` with its ``@`` replaced by a JSON value written out as text."""
    return template.replace("@", json_text)


def escaped(value: str) -> str:
    """``value`` as a JSON string literal, unpaired surrogates and NUL as \\u escapes."""
    return json.dumps(value, ensure_ascii=True)


# --- bodies: size, depth, encoding ---------------------------------------------------------------


def json_routes(api: Api) -> dict[str, str]:
    m = api.ctx.member
    return {
        "/sites": '{"name": @, "jurisdiction": "eu"}',
        "/sites/shop/cameras": '{"name": @, "source": "a.mp4", "mode": "count"}',
        "/members": '{"site": "shop", "name": @}',
        f"/members/{m}/consents": '{"purpose": "recognition", "evidence_text": @}',
        "/webhooks": '{"url": @}',
        "/claims": '{"camera": @, "member_id": "x"}',
        "/auth/login": '{"username": @, "password": "correct horse battery staple"}',
    }


def test_oversized_and_deeply_nested_json(api: Api) -> None:
    huge_string = escaped("x" * (10 * MB))
    nested = "[" * NESTING + "]" * NESTING
    nested_object = '{"a":' * NESTING + "1" + "}" * NESTING
    huge_array = "[" + ",".join(["1"] * (5 * MB)) + "]"
    bodies: dict[str, Callable[[str], str]] = {
        "10 MB string": lambda t: put(t, huge_string),
        "10 MB array": lambda t: huge_array,
        "10k-deep array as the value": lambda t: put(t, nested),
        "10k-deep object as the value": lambda t: put(t, nested_object),
        "10k-deep array as the body": lambda t: nested,
        "invalid JSON": lambda t: put(t, '"unterminated'),
        "huge number": lambda t: put(t, "9" * 100_000),
        "NaN": lambda t: put(t, "NaN"),
        "null body": lambda t: "null",
        "empty body": lambda t: "",
    }
    calls = [
        ("POST", path, f"{path} {what}", raw_json(body(template)))
        for path, template in json_routes(api).items()
        for what, body in bodies.items()
    ]
    wrong = refusals(api, calls, audited=True)
    assert not wrong, "\n".join(wrong)


def test_invalid_utf8_and_wrong_content_types(api: Api) -> None:
    calls: list[Call] = []
    for path, template in json_routes(api).items():
        good = put(template, '"Ada"').encode()
        kinds: dict[str, dict[str, Any]] = {
            "invalid UTF-8 bytes": {
                "content": good.replace(b"Ada", b"A\xff\xfe\xed\xa0\x80"),
                "headers": {"content-type": "application/json"},
            },
            "text/plain": {"content": good, "headers": {"content-type": "text/plain"}},
            "form": {"data": {"name": "Ada"}},
            "binary": {
                "content": bytes(range(256)) * 64,
                "headers": {"content-type": "application/octet-stream"},
            },
        }
        for what, kwargs in kinds.items():
            calls.append(("POST", path, f"{path} {what}", kwargs))
    wrong = refusals(api, calls, audited=True)
    assert not wrong, "\n".join(wrong)


# --- hostile strings in every text field ----------------------------------------------------------


def _escape_rule(value: str, legal: bool) -> str:
    if value in (NUL, LONE_SURROGATE, NEWLINE, TOO_LONG, DIRECTION_OVERRIDE):
        return "refused"
    return "stored" if legal else "refused"


# (path, JSON template with one @, table and column holding the value when stored, or None
# when no value can be legal: a reference to something that does not exist, or a code)
FIELDS: dict[str, tuple[str, str, tuple[str, str] | None]] = {
    "site name": ("/sites", '{"name": @, "jurisdiction": "eu"}', ("sites", "name")),
    "site jurisdiction": ("/sites", '{"name": "x", "jurisdiction": @}', None),
    "camera name": (
        "/sites/shop/cameras",
        '{"name": @, "source": "a.mp4", "mode": "count"}',
        ("cameras", "name"),
    ),
    "camera mode": ("/sites/shop/cameras", '{"name": "c", "source": "a.mp4", "mode": @}', None),
    "member name": ("/members", '{"site": "shop", "name": @}', ("members", "name")),
    "member site": ("/members", '{"site": @, "name": "Ada"}', None),
    "consent purpose": ("/members/{m}/consents", '{"purpose": @, "evidence_text": "y"}', None),
    "consent channel": (
        "/members/{m}/consents",
        '{"purpose": "recognition", "evidence_text": "y", "channel": @}',
        None,
    ),
    "consent notice version": (
        "/members/{m}/consents",
        '{"purpose": "recognition", "evidence_text": "y", "notice_version": @}',
        None,
    ),
    "consent evidence base64": (
        "/members/{m}/consents",
        '{"purpose": "recognition", "evidence": @}',
        None,
    ),
    "webhook url": ("/webhooks", '{"url": @}', None),
    "webhook site": ("/webhooks", '{"url": "https://hooks.example/h", "site": @}', None),
    "claim camera": ("/claims", '{"camera": @, "member_id": "{m}"}', None),
    "claim member": ("/claims", '{"camera": "kiosk", "member_id": @}', None),
    "claim site": ("/claims", '{"camera": "kiosk", "member_id": "{m}", "site": @}', None),
    "login tenant": (
        "/auth/login",
        '{"tenant": @, "username": "owner", "password": "wrong horse battery"}',
        None,
    ),
}


@pytest.mark.parametrize("name", FIELDS)
def test_hostile_strings_in_every_json_field(api: Api, name: str) -> None:
    path, template, column = FIELDS[name]
    path = path.replace("{m}", api.ctx.member)
    template = template.replace("{m}", api.ctx.member)
    wrong = []
    calls: list[Call] = []
    for value in HOSTILE:
        if name == "consent evidence base64" and value == TOO_LONG:
            continue  # 10,000 n's are valid base64: real evidence
        body = raw_json(put(template, escaped(value)))
        expect = _escape_rule(value, legal=column is not None)
        if expect == "refused":
            calls.append(("POST", path, f"{name} = {label(value)}", body))
            continue
        assert column is not None
        response = api.request("POST", path, **body)
        table, col = column
        stored = rows_where(api.ctx.ledger.store, table, **{col: value})
        if response.status_code != 201 or len(stored) != 1:
            wrong.append(f"{name} = {label(value)}: {response.status_code}, {len(stored)} rows")
    wrong += refusals(api, calls, audited=name.startswith("login"))
    assert not wrong, "\n".join(wrong)


def test_hostile_profile_values_never_break_the_member_card(api: Api) -> None:
    """Whatever a member's profile was accepted with, the member card and the export can be
    served afterwards; what cannot be (an unpaired surrogate) is refused up front."""
    wrong = []
    for value in HOSTILE:
        for profile in ('{"note": @}', "{@: 1}"):
            body = put(
                '{"site": "shop", "name": "Ada", "profile": @}', put(profile, escaped(value))
            )
            if value == LONE_SURROGATE:
                wrong += refused(
                    api, "POST", "/members", f"profile {label(value)}", **raw_json(body)
                )
                continue
            response = api.request("POST", "/members", **raw_json(body))
            if response.status_code >= 500:
                wrong.append(f"profile {label(value)}: {response.status_code}")
                continue
            if response.status_code != 201:
                continue  # refused (too long, say): refusals are checked above
            member = response.json()["id"]
            for read in (f"/members/{member}", f"/members/{member}/export"):
                got = api.request("GET", read)
                if got.status_code != 200:
                    wrong.append(f"profile {label(value)}: GET {read}: {got.status_code}")
    assert not wrong, "\n".join(wrong)


def test_sql_injection_name_is_stored_verbatim_and_harmless(api: Api) -> None:
    name = "Robert'); DROP TABLE members; --"
    response = api.request("POST", "/members", json={"site": "shop", "name": name})
    assert response.status_code == 201
    member = response.json()["id"]
    card = api.request("GET", f"/members/{member}")
    assert card.status_code == 200 and card.json()["name"] == name
    listed = api.request("GET", "/sites/shop/members", params={"limit": 500})
    assert listed.status_code == 200 and name in [m["name"] for m in listed.json()["items"]]


def path_values() -> list[str]:
    """Hostile values as they appear in a URL: percent-encoded UTF-8, or raw bytes that are not
    UTF-8 at all."""
    values = [quote(v, safe="") for v in HOSTILE if v != LONE_SURROGATE]
    return [*values, "%ED%A0%80", "%FF%FE", "..%2F..%2Fetc%2Fpasswd", "%2e%2e"]


CAMERA = {"name": "c", "source": "a.mp4", "mode": "count"}
CONSENT = {"purpose": "recognition", "evidence_text": "y"}


def test_hostile_path_and_query_parameters(api: Api) -> None:
    m = api.ctx.member
    wrong = []
    calls: list[Call] = []
    for v in path_values():
        for method, path, kwargs in (
            ("GET", f"/sites/{v}", {}),
            ("GET", f"/sites/{v}/notice", {}),
            ("GET", f"/sites/{v}/cameras", {}),
            ("POST", f"/sites/{v}/cameras", {"json": CAMERA}),
            ("GET", f"/sites/{v}/members", {}),
            ("GET", f"/sites/{v}/calibration", {}),
            ("GET", f"/sites/{v}/accuracy", {}),
            ("PUT", f"/sites/{v}/accuracy/threshold", {"json": {"threshold": None}}),
            ("GET", f"/sites/{v}/signage", {}),
            ("GET", f"/public/sites/{v}/notice", {}),
            ("GET", f"/members/{v}", {}),
            ("GET", f"/members/{v}/export", {}),
            ("POST", f"/members/{v}/withdraw", {}),
            ("POST", f"/members/{v}/consents", {"json": CONSENT}),
            ("DELETE", f"/webhooks/{v}", {}),
            ("POST", f"/events/{v}/confirm", {"json": {"confirm": True}}),
            ("GET", f"/events?site={v}", {}),
            ("GET", f"/footfall?site={v}", {}),
            ("GET", f"/compliance/ropa?site={v}", {}),
            ("GET", f"/compliance/dpia?site={v}", {}),
            ("GET", f"/events/stream?site={v}", {}),
            ("GET", f"/sites/shop/signage?format={v}", {}),
            ("GET", f"/members/{m}/export?{v}={v}", {}),
        ):  # fmt: skip
            if path.startswith(f"/members/{m}/export?"):
                response = api.request(method, path)  # unknown query keys are ignored
                if response.status_code != 200:
                    wrong.append(f"{path}: {response.status_code}")
                continue
            calls.append((method, path, f"{method} {path}", kwargs))
    wrong += refusals(api, calls)
    assert not wrong, "\n".join(wrong)


def test_hostile_headers(api: Api) -> None:
    calls: list[Call] = []
    for v in [*LEGAL_HOSTILE, TOO_LONG, "cc_" + "A" * 5000, "cc_'; DROP TABLE api_tokens; --"]:
        if not v.isascii():
            continue  # HTTP header values are bytes; httpx sends ASCII
        for auth in (f"Bearer {v}", v):
            calls.append(("GET", "/auth/me", f"Authorization {label(auth)}", auth_header(auth)))
        last_event = {"headers": {"last-event-id": v}}
        calls.append(("GET", "/events/stream", f"Last-Event-ID {label(v)}", last_event))
    wrong = refusals(api, calls)
    assert not wrong, "\n".join(wrong)


def auth_header(value: str) -> dict[str, Any]:
    return {"headers": {"authorization": value}}


# --- uploads: CSV and photos -------------------------------------------------------------------


def test_bad_purchase_files(api: Api) -> None:
    calls: list[Call] = []
    files = bad_csv_files(api.ctx.folder, api.ctx.member)
    junk = api.ctx.folder / "ten-megabytes.csv"
    junk.write_bytes(b"member_id,time,items,amount,currency\n" + b"x," * (5 * MB))
    files["ten-megabytes.csv"] = junk
    for name, path in files.items():
        data = path.read_bytes()
        as_csv = {"content": data, "headers": {"content-type": "text/csv"}}
        calls.append(("POST", "/purchases", f"{name} as text/csv", as_csv))
        as_form = {"files": {"file": (name, data, "text/csv")}}
        calls.append(("POST", "/purchases", f"{name} as a form", as_form))
    wrong = refusals(api, calls)
    assert not wrong, "\n".join(wrong)


def test_bad_photos_are_refused_at_enrolment(api: Api, images: ImageCorpus) -> None:
    member = add_member(api.ctx.ledger, "shop", "Photo Tester")
    record_consent(api.ctx.ledger, member.id, purpose="recognition", evidence=api.ctx.evidence)
    path = f"/members/{member.id}/enrol"
    calls: list[Call] = []
    for name, image in images.bad.items():
        upload = {"files": [("photos", (name, image.read_bytes(), "image/jpeg"))]}
        calls.append(("POST", path, f"enrol {name}", upload))
    for filename in HOSTILE:  # the upload's own name is only ever used in messages
        if "\x00" in filename or filename == LONE_SURROGATE:
            continue  # not sendable in a multipart header
        upload = {"files": [("photos", (filename, b"not an image", "image/jpeg"))]}
        calls.append(("POST", path, f"upload named {label(filename)}", upload))
    wrong = refusals(api, calls)
    assert not wrong, "\n".join(wrong)


def test_a_decompression_bomb_upload_is_refused_quickly(api: Api, images: ImageCorpus) -> None:
    member = add_member(api.ctx.ledger, "shop", "Bomb Tester")
    record_consent(api.ctx.ledger, member.id, purpose="recognition", evidence=api.ctx.evidence)
    bomb = images.bad["png-bomb-50000x50000.png"].read_bytes()
    start = time.perf_counter()
    wrong = refused(
        api, "POST", f"/members/{member.id}/enrol",
        files=[("photos", ("bomb.png", bomb, "image/png"))],
    )  # fmt: skip
    assert not wrong, "\n".join(wrong)
    assert time.perf_counter() - start < 5


def test_base64_evidence_that_is_not_base64(api: Api) -> None:
    calls: list[Call] = []
    for value in ["not base64!", "====", base64.b64encode(b"x").decode() + "\x00", "\u00e9"]:
        body = raw_json(put('{"purpose": "recognition", "evidence": @}', escaped(value)))
        calls.append(("POST", f"/members/{api.ctx.member}/consents", label(value), body))
    wrong = refusals(api, calls)
    assert not wrong, "\n".join(wrong)
