"""Helpers for the schemathesis run of ``test_openapi_fuzz.py``: the OpenAPI document, a store
with one of everything for the fuzzed requests to find, and edge values read from the document.
"""

from __future__ import annotations

import importlib
import pkgutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

import consentcam
from consentcam.api.app import create_app
from consentcam.auth.tokens import issue_token
from consentcam.auth.users import add_user
from consentcam.config import Settings, load_settings
from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger, open_ledger
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_camera, add_site
from consentcam.events.outbox import record_event
from consentcam.events.staff import PENDING
from consentcam.events.webhooks import add_webhook
from consentcam.store.models import utcnow
from tests.support.auth import PASSWORD, use_fast_hashing

SITE = "north"
DOOR_CAMERA = "door"
KIOSK_CAMERA = "kiosk"  # verify mode: the camera a claim names

# Past the signed 64-bit integers that SQLite and PostgreSQL store.
BIG_INTEGERS = (2**63, 2**64)
# The ends of Python's datetime range, where "until - 1 day" or a conversion to UTC leave it.
EDGE_DATETIMES = ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-23:59")


def import_every_module() -> None:
    """Import every module of the package. Hypothesis draws some values from the constants in
    the project modules loaded so far, so without this the examples would depend on what the
    app had imported lazily and on which other tests ran first; with it, a seed gives the same
    examples in this module alone and in the whole suite."""
    for module in pkgutil.walk_packages(consentcam.__path__, "consentcam."):
        importlib.import_module(module.name)


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document (the app needs a store to start; a throwaway one will do)."""
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(data_dir=Path(folder) / "store", dev=True)
        open_ledger(settings, "test:openapi", create=True)
        app = create_app(settings)
        try:
            return app.openapi()
        finally:
            app.state.store.engine.dispose()


@dataclass(frozen=True)
class Target:
    """The app under test and what its store holds, for requests that should find something."""

    app: FastAPI
    token: str
    site_id: str
    member_id: str
    event_id: str
    webhook_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def path_values(self) -> dict[str, str]:
        return {
            "site": SITE,
            "site_id": self.site_id,
            "member_id": self.member_id,
            "event_id": self.event_id,
            "webhook_id": self.webhook_id,
        }

    def field_values(self) -> dict[str, str]:
        return {"site": SITE, "camera": KIOSK_CAMERA, "member_id": self.member_id}


def make_target(
    ledger: Ledger, settings: Settings, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> Target:
    """Site ``north`` (profile eu) with a door and a verify camera, a member with a recognition
    consent, an event, a webhook, and an owner with an API token; then the app over it."""
    use_fast_hashing(monkeypatch)
    # Enrolment runs for real up to the face stage: uploads are saved, size-checked and
    # decoded; a photo that decodes is then reported as showing no face, so no model loads.
    monkeypatch.setattr("consentcam.vision.faces.image_faces", lambda *a, **k: [])
    site = add_site(ledger, SITE, "eu")
    door = add_camera(ledger, SITE, DOOR_CAMERA, "door.mp4", "door", True)
    add_camera(ledger, SITE, KIOSK_CAMERA, "kiosk.mp4", "verify", True)
    member = add_member(ledger, SITE, "Ada Member", {"tier": "gold"})
    evidence = folder / "evidence.txt"
    evidence.write_text("I consent to face recognition. Signed, A. Member")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    with ledger.store.transaction() as s:
        event = record_event(
            s,
            tenant_id=site.tenant_id,
            site_id=site.id,
            camera_id=door.id,
            member_id=member.id,
            kind="recognition",
            payload={"camera": DOOR_CAMERA, "distance": 0.41},
            at=utcnow(),
            status=PENDING,  # a door recognition awaiting staff confirmation
        )
        event_id = event.id
    webhook, _ = add_webhook(ledger, "https://hooks.example.org/consentcam", SITE)
    add_user(ledger, "owner", "owner", PASSWORD)
    token = issue_token(ledger, "owner", "fuzz").token
    return Target(create_app(settings), token, site.id, member.id, event_id, webhook.id)


def points_at_store(case: Any) -> bool:
    """Whether to point this case at the store's records: for about half the positive cases,
    chosen by a checksum of the generated parts so a replay chooses the same (Hypothesis
    replays a failing case while shrinking it). Never for negative cases: schemathesis judges
    them by the part it made invalid, which a replaced value may have made valid."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return False
    parts = repr(_plain((case.path_parameters, case.query, case.body))).encode()
    return zlib.crc32(parts) % 2 == 0


def _plain(value: Any) -> Any:
    """``value`` with anything but plain data replaced by its type's name: the repr of other
    objects (schemathesis's "no body" marker) holds a memory address."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bytes, int, float, bool)):
        return value
    return type(value).__name__


def use_store_values(case: Any, target: Target) -> None:
    """Point the case's path parameters, ``site`` query and body references at records that
    exist, so the fuzzed values reach past the 404 of an unknown id."""
    paths = target.path_values()
    for name in case.path_parameters or {}:
        if name in paths:
            case.path_parameters[name] = paths[name]
    if isinstance(case.query, dict) and isinstance(case.query.get("site"), str):
        case.query["site"] = SITE
    if isinstance(case.body, dict):
        for name, value in target.field_values().items():
            if isinstance(case.body.get(name), str):
                case.body[name] = value


def edge_requests(document: dict[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(method, path, query parameter, value) for every query parameter of the document that
    takes an integer with no maximum (values past 64 bits) or a date-time (the ends of the
    calendar): edge values a few random examples seldom reach. The path is the document's
    template (``Target.path_values`` fills it)."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                for schema in _alternatives(parameter.get("schema", {})):
                    if schema.get("type") == "integer" and "maximum" not in schema:
                        values: tuple[str, ...] = tuple(str(n) for n in BIG_INTEGERS)
                    elif schema.get("format") == "date-time":
                        values = EDGE_DATETIMES
                    else:
                        continue
                    for value in values:
                        yield method.upper(), path, parameter["name"], value


def _alternatives(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema itself, or each branch of an ``anyOf`` (FastAPI's ``X | None``)."""
    return list(schema.get("anyOf", [schema]))
