"""Request bodies against a real uvicorn server (issue 13, item 1): who the caller is and what
their role may do is settled before a byte of the body is read; each route has a body limit,
answered with 413 before the body is read past it; a slow or half-sent body times out.

The client is a raw socket that sends the headers and then pushes the body while watching for
an answer, so a refusal that arrives before the body is sent shows as such; an outermost ASGI
wrapper counts the body bytes the application pulled from the server. SQLite only: none of this
touches the store beyond looking up the caller.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentcam.api.app import create_app
from consentcam.api.guard import MULTIPART_OVERHEAD, body_limits
from consentcam.api.routes.enrolment import MAX_PHOTOS
from consentcam.api.routes.purchases import MAX_CSV_BYTES
from consentcam.api.schemas import ConsentIn
from consentcam.config import Settings, load_settings
from consentcam.consent.context import Ledger, open_ledger
from consentcam.consent.sites import add_site
from tests.support.auth import use_fast_hashing, user_with_token
from tests.support.clients import serving

API = "/api/v1"
MIB = 1024 * 1024
# Large enough that, were it read, the counters could not miss it; small enough that the
# pre-fix run (which reads it all) stays quick on two shared cores.
BIG = 32 * MIB
# What may reach the application past a limit: uvicorn hands over at most its 64 KiB high-water
# mark plus one read of the socket per message.
SLACK = 256 * 1024
PHOTO_MAX_BYTES = 100_000


class BodyCounter:
    """Outermost ASGI wrapper: how many body bytes the application pulled from the server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.read = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.read += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


@dataclass
class Served:
    port: int
    settings: Settings
    ledger: Ledger
    counter: BodyCounter
    tokens: dict[str, str]


@dataclass
class Reply:
    status: int | None
    body: dict[str, Any] | None
    headers: dict[str, str]
    sent: int  # body bytes the client got onto the wire before the answer


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The API under uvicorn on a free loopback port, a 1 s body timeout, a small photo byte
    limit, site north and an admin, a staff and a kiosk token."""
    use_fast_hashing(monkeypatch)
    settings = load_settings(
        data_dir=tmp_path / "store",
        dev=True,
        api={"body_timeout_s": 1.0},
        vision={"decode": {"max_bytes": PHOTO_MAX_BYTES}},
    )
    ledger = open_ledger(settings, "test:setup", create=True)
    add_site(ledger, "north", "eu")
    tokens = {role: user_with_token(ledger, role, role) for role in ("admin", "staff", "kiosk")}
    counter = BodyCounter(create_app(settings))
    with serving(counter) as port:
        yield Served(port, settings, ledger, counter, tokens)


def stream(
    port: int,
    path: str,
    headers: dict[str, str],
    size: int,
    *,
    prefix: bytes = b"",
    suffix: bytes = b"",
    chunked: bool = False,
    stop_after: int | None = None,
    timeout: float = 20.0,
) -> Reply:
    """POST ``size`` body bytes (``prefix``, filler, ``suffix``) to ``path``, pushing the body only
    while no answer has come; ``stop_after`` bytes: then stall, as a half-sent body does."""
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    limit = size if stop_after is None else min(size, stop_after)
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(head)
        sock.setblocking(False)
        body = Body(size, prefix, suffix)
        return _exchange(sock, body, limit, chunked, time.monotonic() + timeout)
    finally:
        sock.close()


@dataclass(frozen=True)
class Body:
    """``size`` bytes: ``prefix``, then filler, then ``suffix``; made a piece at a time."""

    size: int
    prefix: bytes
    suffix: bytes

    def piece(self, offset: int, length: int) -> bytes:
        end, tail = offset + length, self.size - len(self.suffix)
        out = bytearray(b"a" * length)
        for i in range(offset, min(end, len(self.prefix))):
            out[i - offset] = self.prefix[i]
        for i in range(max(offset, tail), end):
            out[i - offset] = self.suffix[i - tail]
        return bytes(out)


def _exchange(sock: socket.socket, body: Body, limit: int, chunked: bool, deadline: float) -> Reply:
    sent, pending, received, writable = 0, b"", b"", True
    while time.monotonic() < deadline:
        if not pending and sent < limit:
            piece = body.piece(sent, min(65536, limit - sent))
            sent += len(piece)
            pending = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
        want_write = writable and bool(pending)
        readable, ready, _ = select.select([sock], [sock] if want_write else [], [], 0.2)
        if readable:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            received += data
            reply = _parse(received, sent - len(pending))
            if reply is not None or not data:
                return reply or Reply(None, None, {}, sent - len(pending))
        if ready:
            try:
                pending = pending[sock.send(pending) :]
            except (BrokenPipeError, ConnectionResetError):
                writable = False
    return Reply(None, None, {}, sent - len(pending))


def _parse(data: bytes, sent: int) -> Reply | None:
    """The whole response in ``data`` (uvicorn sends JSON errors with a Content-Length)."""
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return None
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    pairs = (line.split(": ", 1) for line in header_lines)
    headers = {name.lower(): value for name, value in pairs}
    if len(body) < int(headers.get("content-length", "0")):
        return None
    return Reply(int(status_line.split()[1]), json.loads(body) if body else None, headers, sent)


def member_json(size: int) -> dict[str, Any]:
    """``stream`` arguments for a valid member document of ``size`` bytes (the filler is a
    profile value)."""
    return {
        "size": size,
        "prefix": b'{"site": "north", "name": "Ann", "profile": {"pad": "',
        "suffix": b'"}}',
    }


def photo_form(size: int) -> dict[str, Any]:
    """``stream`` arguments for a multipart form of ``size`` bytes with one photo."""
    return {
        "size": size,
        "prefix": b'--xyz\r\nContent-Disposition: form-data; name="photos"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n",
        "suffix": b"\r\n--xyz--\r\n",
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def multipart_headers(token: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


# Authentication and role before the body.


def test_an_anonymous_json_body_is_refused_before_it_is_read(served: Served) -> None:
    reply = stream(
        served.port, f"{API}/members", {"Content-Type": "application/json"}, **member_json(BIG)
    )
    assert reply.status == 401 and reply.body is not None and set(reply.body) == {"error"}
    assert reply.headers["www-authenticate"] == "Bearer"
    assert served.counter.read == 0
    assert reply.sent < BIG // 2  # the answer came while most of the body was still unsent


def test_an_anonymous_photo_upload_is_refused_before_it_is_read(served: Served) -> None:
    reply = stream(served.port, f"{API}/members/m1/enrol", multipart_headers(), **photo_form(BIG))
    assert reply.status == 401 and served.counter.read == 0 and reply.sent < BIG // 2


def test_a_role_without_the_permission_is_refused_before_the_body(served: Served) -> None:
    headers = bearer(served.tokens["staff"])
    reply = stream(served.port, f"{API}/members", headers, **member_json(BIG))
    assert reply.status == 403 and reply.body == {"error": "role 'staff' may not members:write"}
    assert served.counter.read == 0 and reply.sent < BIG // 2


def test_a_bad_token_is_refused_before_the_body(served: Served) -> None:
    headers = bearer("cc_AAAAAAAAAAAA_not-a-secret")
    reply = stream(served.port, f"{API}/members", headers, **member_json(BIG))
    assert reply.status == 401 and served.counter.read == 0 and reply.sent < BIG // 2


# Body limits.


def test_a_declared_body_over_the_json_limit_gets_413_unread(served: Served) -> None:
    reply = stream(
        served.port, f"{API}/members", bearer(served.tokens["admin"]), **member_json(BIG)
    )
    assert reply.status == 413 and reply.body is not None
    assert reply.body["error"] == f"the request body is over this route's {MIB}-byte limit"
    assert served.counter.read == 0 and reply.sent < BIG // 2
    assert reply.headers["connection"] == "close"


def test_a_chunked_body_is_cut_off_at_the_limit(served: Served) -> None:
    reply = stream(
        served.port,
        f"{API}/members",
        bearer(served.tokens["admin"]),
        chunked=True,
        **member_json(BIG),
    )
    assert reply.status == 413 and reply.body is not None and set(reply.body) == {"error"}
    assert MIB < served.counter.read <= MIB + SLACK
    assert reply.sent < BIG // 2


def test_photos_are_bounded_by_the_photo_byte_limit_times_the_photo_count(
    served: Served,
) -> None:
    limit = PHOTO_MAX_BYTES * MAX_PHOTOS + MULTIPART_OVERHEAD
    headers = multipart_headers(served.tokens["kiosk"])
    over = stream(served.port, f"{API}/members/m1/enrol", headers, **photo_form(limit + 1))
    assert over.status == 413 and served.counter.read == 0
    # At the limit the body is read, and the route answers (here: no such member).
    at = stream(served.port, f"{API}/members/m1/enrol", headers, **photo_form(limit))
    assert at.status == 404 and served.counter.read == limit


def test_a_small_body_still_works(served: Served) -> None:
    document = b'{"site": "north", "name": "Ann"}'
    reply = stream(
        served.port,
        f"{API}/members",
        bearer(served.tokens["admin"]),
        len(document),
        prefix=document,
    )
    assert reply.status == 201 and reply.body is not None and reply.body["name"] == "Ann"


def test_every_route_has_a_limit_fitting_what_it_takes(served: Served) -> None:
    limits = body_limits(served.settings)
    enrol = limits.routes[f"{API}/members/{{member_id}}/enrol"]
    assert enrol == PHOTO_MAX_BYTES * MAX_PHOTOS + MULTIPART_OVERHEAD
    assert limits.routes[f"{API}/purchases"] == MAX_CSV_BYTES + MULTIPART_OVERHEAD
    evidence = ConsentIn.model_fields["evidence"].metadata[0].max_length
    assert evidence < limits.routes[f"{API}/members/{{member_id}}/consents"] < evidence + MIB
    assert limits.routes[f"{API}/audit/verify"] > MIB  # 10,000 anchors
    assert limits.of(f"{API}/sites") == limits.of(None) == MIB
    documented = served.counter.app.openapi()["paths"]  # type: ignore[attr-defined]
    assert all("post" in documented[path] for path in limits.routes)
    assert limits.default == MIB


# A slow body.


def test_a_half_sent_body_times_out(served: Served) -> None:
    document = b'{"site": "north", "name": "Ann"}'
    started = time.monotonic()
    reply = stream(
        served.port,
        f"{API}/members",
        bearer(served.tokens["admin"]),
        1000,
        prefix=document,
        stop_after=10,
        timeout=10,
    )
    assert reply.status == 408 and reply.body is not None and set(reply.body) == {"error"}
    assert time.monotonic() - started < 5
    assert reply.headers["connection"] == "close"
