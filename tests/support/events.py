"""Events for tests: a site with a member, recording events, door alerts, and a real local webhook
receiver (stdlib http.server on 127.0.0.1 in a thread)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from sqlalchemy import select

from consentcam.consent.context import Ledger, site_by_name
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_site
from consentcam.events.outbox import record_event
from consentcam.events.webhooks import SIGNATURE_HEADER, verify_signature
from consentcam.store.models import Event, OutboxEntry, Site, utcnow


@dataclass(frozen=True)
class Place:
    tenant_id: str
    site_id: str
    site_name: str
    member_id: str


def place(ledger: Ledger, name: str = "flagship") -> Place:
    site: Site = add_site(ledger, name, "eu")
    member = add_member(ledger, name, f"Member at {name}")
    return Place(site.tenant_id, site.id, name, member.id)


def record(
    ledger: Ledger, where: Place, kind: str = "recognition", **payload: Any
) -> tuple[int, Event]:
    """Record one event in its own transaction; returns (outbox seq, event)."""
    with ledger.store.transaction() as s:
        event = record_event(
            s,
            tenant_id=where.tenant_id,
            site_id=where.site_id,
            camera_id=None,
            member_id=where.member_id,
            kind=kind,
            payload=payload or {"camera": "door", "distance": 0.41},
            at=utcnow(),
        )
        seq = s.execute(select(OutboxEntry.seq).where(OutboxEntry.event_id == event.id))
        return int(seq.scalar_one()), event


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool


class Receiver:
    """A webhook endpoint: answers the first ``fail_first`` requests with 500 (and a body that
    must never reach the store), then 204. Verifies each signature with ``secret``;
    ``on_request`` runs inside the handler before it answers."""

    def __init__(
        self, fail_first: int = 0, on_request: Callable[[Received], None] | None = None
    ) -> None:
        self.fail_first = fail_first
        self.on_request = on_request
        self.secret = b""
        self.requests: list[Received] = []
        self.errors: list[BaseException] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k: v for k, v in self.headers.items()}
                ok = verify_signature(
                    receiver.secret, headers.get(SIGNATURE_HEADER, ""), body, time.time()
                )
                got = Received(headers, body, ok)
                receiver.requests.append(got)
                try:
                    if receiver.on_request is not None:
                        receiver.on_request(got)
                except BaseException as exc:  # surfaced by the test, not lost in this thread
                    receiver.errors.append(exc)
                failing = len(receiver.requests) <= receiver.fail_first
                reply = b"internal detail that must not be stored" if failing else b""
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/consentcam"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def door_alert(
    ledger: Ledger,
    site_name: str,
    camera_id: str | None,
    status: str | None,
    at: dt.datetime,
    distance: float,
    member_id: str | None = None,
    kind: str = "recognition",
) -> str:
    """Store a recognition as staff left it (``pending``, ``confirmed`` or ``dismissed``; None:
    not from a door), with the distance and threshold a camera worker records; returns its id."""
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        event = Event(
            tenant_id=site.tenant_id,
            site_id=site.id,
            camera_id=camera_id,
            member_id=member_id,
            kind=kind,
            at=at,
            status=status,
            payload={"distance": distance, "threshold": 0.35, "frames": 5},
        )
        s.add(event)
        s.flush()
        return event.id
