"""The OpenAPI document checked by schemathesis: every operation, called by an owner with an API
token, must answer without a server error and as the document says (status code, content type,
headers, body schema), and must reject schema-invalid input with a 4xx.

Each operation is one test item running schemathesis's coverage and fuzzing phases (positive
and negative cases) with a fixed seed, derandomized, so a failure reproduces; each item gets a
fresh SQLite store (the other API tests cover PostgreSQL) with site ``north``, cameras, a
consenting member, a pending door event, a webhook and the owner's token. About half the
positive cases are pointed at those records, so fuzzed bodies and queries get past "not found".
Enrolment runs up to the face stage (see ``fuzz_support.make_target``). Left out:
``GET /api/v1/events/stream``, an endless server-sent event stream by design (its refusals are
tested in test_security.py).

Undocumented status codes are a test of their own with fewer examples, so that one cannot hide
a server error behind it (Hypothesis stops an operation at its first failing example). Checks
left out, as they flag correct behaviour here:
- ``positive_data_acceptance``: schema-valid requests that the domain refuses (an unknown
  jurisdiction code, a consent for a withdrawn member) rightly get 400/403/404.
- ``allow_header_conformance``: Starlette answers a wrong method on a path served by two route
  functions (GET and POST /sites) with the Allow header of the first one only.

Edge values that a few random examples seldom reach (integers past 64 bits, the ends of the
calendar) are sent to every query parameter that takes them, read from the document; and the
document must declare the security of every operation.

Schemathesis's pytest ``from_fixture`` loader fails under pytest 9 (it reads
``Function._nodeid``), so the document is loaded when the module is imported, from an app over a
throwaway store, and each case is sent to the test's own app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from consentcam.api.security import PUBLIC_ROUTES
from consentcam.config import Settings, load_settings
from consentcam.consent.context import Ledger
from tests.api.fuzz_support import (
    Target,
    edge_requests,
    import_every_module,
    make_target,
    openapi_document,
    points_at_store,
    use_store_values,
)
from tests.support.clients import TestClient

pytestmark = pytest.mark.fuzz  # schemathesis: generated requests to every operation

STREAM = "/api/v1/events/stream"
# Per operation and phase (coverage adds its own boundary cases); about a minute in all.
MAX_EXAMPLES = 25
STATUS_EXAMPLES = 10
SEED = 20250605

import_every_module()
DOCUMENT = openapi_document()
UNRELIABLE_CHECKS = {
    "positive_data_acceptance": {"enabled": False},
    "allow_header_conformance": {"enabled": False},
}


def fuzz_schema(max_examples: int, checks: dict[str, Any]) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"mode": "all", "max-examples": max_examples, "deterministic": True},
            "checks": checks,
        }
    )
    return schemathesis.openapi.from_dict(DOCUMENT, config=config).exclude(path=STREAM)


answers = fuzz_schema(
    MAX_EXAMPLES, UNRELIABLE_CHECKS | {"status_code_conformance": {"enabled": False}}
)
statuses = fuzz_schema(
    STATUS_EXAMPLES, {"enabled": False, "status_code_conformance": {"enabled": True}}
)
FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    # The store is shared by the examples of one operation on purpose: what one example
    # creates or deletes is what later ones meet.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def store_settings(tmp_path: Path) -> Settings:
    """SQLite only: the fuzzing checks the API's handling of input, which the store backend
    does not change, and one backend keeps the run within CI's time."""
    return load_settings(data_dir=tmp_path / "store", dev=True)


@pytest.fixture
def target(
    ledger: Ledger, store_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Target:
    return make_target(ledger, store_settings, tmp_path, monkeypatch)


def send(case: Any, target: Target) -> None:
    """Send the case as the owner, pointed at the store's records or not, and run the
    schema's checks."""
    if points_at_store(case):
        use_store_values(case, target)
    # The login and enrolment limits would turn every later example into a 429.
    target.app.state.rate_limits = None
    # The ignored_auth check resends the request without, then with wrong, credentials through
    # the schema's own transport, not to the app given below (schemathesis 4.32): without
    # this, those probes would go to no server at all.
    case.operation.schema.app = target.app
    case.call_and_validate(app=target.app, headers=target.headers)


@answers.parametrize()
@FUZZ_SETTINGS
def test_answers_without_server_error_as_documented(case: Any, target: Target) -> None:
    send(case, target)


@statuses.parametrize()
@FUZZ_SETTINGS
def test_status_codes_are_documented(case: Any, target: Target) -> None:
    send(case, target)


@pytest.mark.parametrize(
    ("method", "path", "name", "value"),
    list(edge_requests(DOCUMENT)),
    ids=lambda v: str(v),
)
def test_edge_query_values_get_no_server_error(
    target: Target, method: str, path: str, name: str, value: str
) -> None:
    """Integers past 64 bits and the ends of the calendar in every query parameter that takes
    them: a 4xx or an answer, never a 500. Server exceptions propagate, so a failure shows the
    line that raised."""
    client = TestClient(target.app)
    url = path.format(**target.path_values())
    response = client.request(method, url, params={name: value}, headers=target.headers)
    assert response.status_code < 500, response.text


def test_edge_requests_cover_the_document() -> None:
    """The edge test above finds the parameters it is meant for (it reads them from the
    document, so a renamed parameter cannot silently drop out)."""
    found = {(path, name) for _, path, name, _ in edge_requests(DOCUMENT)}
    assert ("/api/v1/audit", "after_seq") in found
    assert ("/api/v1/footfall", "until") in found


def test_every_operation_declares_its_security() -> None:
    """The document says which operations need credentials: every operation but the public
    ones requires a declared security scheme, and the public ones require none."""
    schemes = DOCUMENT.get("components", {}).get("securitySchemes", {})
    assert schemes, "the document declares no security scheme (components.securitySchemes)"
    default = DOCUMENT.get("security", [])
    problems = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            security = operation.get("security", default)
            unknown = {name for requirement in security for name in requirement} - set(schemes)
            if unknown:
                problems.append(f"{label}: unknown scheme(s) {sorted(unknown)}")
            anonymous = not security or {} in security
            if path in PUBLIC_ROUTES and not anonymous:
                problems.append(f"{label}: public, but declares that it needs credentials")
            elif path not in PUBLIC_ROUTES and anonymous:
                problems.append(f"{label}: declares no security requirement")
    assert not problems, "\n".join(problems)
