"""The HTTP API: ``GET /healthz`` (public), the login routes, ``GET /api/v1/events/stream``
(server-sent events), claims and door confirmations, and the routers of ``consentcam.api.routes``,
all under /api/v1.

Every route but the public ones (``security.PUBLIC_ROUTES``) needs a Bearer API token or a
session cookie, and works in the caller's tenant and sites only (``consentcam.api.security``).

Errors have one JSON shape, ``{"error": message}``, set in one place (``install_error_handlers``):
library errors through ``STATUS_CODES``, a database that cannot be reached (503), FastAPI's HTTP
errors, request validation (422) and anything unexpected (500, without details). Every response
carries the security headers of ``SecurityHeaders``. Before any body is read, ``RequestGuard``
(``consentcam.api.guard``) checks the caller and role, the route's body limit and the body's
deadline.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentcam import __version__
from consentcam.api.guard import RequestGuard
from consentcam.api.schemas import ERROR_RESPONSES, PICTURE_HEADERS, SEQ_END
from consentcam.api.security import principal_ledger, require
from consentcam.api.security import router as auth_router
from consentcam.auth.ratelimit import Clock, RateLimits
from consentcam.auth.roles import Principal
from consentcam.config import Settings
from consentcam.errors import (
    ConfigError,
    Conflict,
    ConsentcamError,
    InputError,
    NotFound,
    PolicyError,
    StoreUnavailable,
    shown,
)
from consentcam.store.db import Store, open_store, store_unavailable

log = logging.getLogger(__name__)

# The single mapping from the exception tree to HTTP status; anything not listed is a 500.
STATUS_CODES: dict[type[ConsentcamError], int] = {
    InputError: 400,
    Conflict: 409,
    ConfigError: 400,
    PolicyError: 403,
    NotFound: 404,
    StoreUnavailable: 503,
}
UNAVAILABLE = "the store is unavailable; retry later"
LOOPBACK_NAMES = ("localhost",)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# The interactive docs page: Swagger UI's script and style are served from this origin (the
# fastapi-offline package ships them; nothing is fetched from a CDN), and it is started by an
# inline script, which only this page's policy allows (the dashboard and kiosk never do).
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
DOCS_ASSETS = "/docs-assets"
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # The kiosk page takes the enrolment photo with the webcam; nothing else is allowed.
    "Permissions-Policy": "camera=(self)",
}


def status_code(error: ConsentcamError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def check_bind_host(host: str, *, tls: bool = False, behind_proxy: bool = False) -> None:
    """PolicyError for a non-loopback ``host`` served in clear: API tokens and session cookies
    travel in headers, so off the machine they need TLS, either served here (``tls``) or
    terminated by a reverse proxy in front (``behind_proxy``)."""
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host.lower() in LOOPBACK_NAMES
    if not (loopback or tls or behind_proxy):
        raise PolicyError(
            f"refusing to listen on {host} without TLS: tokens and session cookies would cross "
            "the network in clear; give --tls-cert and --tls-key, or --behind-proxy when a "
            "TLS-terminating reverse proxy is in front"
        )


class SecurityHeaders:
    """ASGI middleware adding the security headers to every response, and ``Cache-Control:
    no-store`` to API responses (they name members and carry session data). Plain ASGI rather
    than BaseHTTPMiddleware, so the event stream passes through unbuffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                docs = path in DOCS_PATHS
                headers["Content-Security-Policy"] = (
                    DOCS_CONTENT_SECURITY_POLICY if docs else CONTENT_SECURITY_POLICY
                )
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if path.startswith("/api/"):
                    headers["Cache-Control"] = "no-store"
                if https:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_error_handlers(app: FastAPI) -> None:
    """The one place errors become responses, all shaped ``{"error": message}``."""

    @app.exception_handler(ConsentcamError)
    async def _library_error(request: Request, exc: ConsentcamError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=status_code(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": validation_message(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # Details stay in the server log: they may name rows, paths or settings.
        return JSONResponse({"error": "internal error"}, status_code=500)

    @app.exception_handler(SQLAlchemyError)  # DBAPIError, and the pool's TimeoutError
    async def _database_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # The database down or unreachable is the library's StoreUnavailable (503: retry). The
        # driver's reason, which names the server's address (a setting), goes to the log only.
        error = store_unavailable(exc)
        if error is None:
            raise exc  # a bug, not an outage: answered by _internal and logged by the server
        log.warning("%s %s: %s", request.method, request.url.path, error)
        return JSONResponse({"error": UNAVAILABLE}, status_code=status_code(error))


def single_query_values(request: Request) -> None:
    """422 for a query parameter given more than once: each parameter of this API takes one
    value, and FastAPI would silently keep the last one."""
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise HTTPException(422, f"query parameter {name[:40]!r} is given more than once")
        seen.add(name)


def validation_message(exc: RequestValidationError) -> str:
    """One line naming each invalid field; never the submitted values (a password may be one)."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def create_app(
    settings: Settings,
    *,
    poll_interval_s: float = 0.25,
    keepalive_s: float = 15.0,
    stream_max_idle_s: float | None = None,
    clock: Clock = time.monotonic,
) -> FastAPI:
    """The API over the store named by ``settings`` (which must exist: 'consentcam init').

    ``poll_interval_s``: how often new events are looked for (one query per process, shared
    by every open event stream); ``stream_max_idle_s`` ends event streams after that long
    without an event (tests); ``clock`` drives the rate limits (tests)."""
    from consentcam.events.sse import OutboxWatch, tail_events

    store = open_store(settings)
    watch = OutboxWatch(store, poll_interval_s)
    app = FastAPIOffline(
        title="consentcam",
        version=__version__,
        docs_url="/docs",
        redoc_url=None,
        static_url=DOCS_ASSETS,
        # Swagger UI would send the schema's address to its public validator service.
        swagger_ui_parameters={"validatorUrl": None},
        dependencies=[Depends(single_query_values)],
    )
    app.state.store = store
    app.state.settings = settings
    app.state.rate_limits = RateLimits(clock)
    # Added first, so it runs inside SecurityHeaders: its early answers get the headers too.
    app.add_middleware(RequestGuard)
    app.add_middleware(SecurityHeaders)
    install_error_handlers(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness and store reachability."""
        with store.transaction() as s:
            s.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    @app.get(
        "/api/v1/events/stream",
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
                "description": "Server-sent events, each with its seq as id, until the client "
                "disconnects.",
            },
            **ERROR_RESPONSES,
        },
    )
    def events_stream(
        principal: Annotated[Principal, Depends(require("events:read"))],
        site: Annotated[str | None, Query(description="Site name; all sites if omitted.")] = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        """Events at the caller's sites as ``text/event-stream``, each with its outbox seq as
        id. Without a ``Last-Event-ID`` header the stream starts with the next new event; with
        one it resumes after that seq (``0`` replays every event still retained)."""
        site_ids, after = _stream_start(store, principal, site, last_event_id)
        stream = tail_events(
            store,
            site_ids,
            after,
            interval_s=poll_interval_s,
            keepalive_s=keepalive_s,
            max_idle_s=stream_max_idle_s,
            watch=watch,
        )
        # Buffering proxies (nginx) would hold messages back; SecurityHeaders adds no-store.
        return StreamingResponse(
            stream, media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
        )

    @app.post("/api/v1/claims", status_code=201, responses=ERROR_RESPONSES)
    def post_claim(
        body: ClaimIn,
        request: Request,
        principal: Annotated[Principal, Depends(require("claims:write"))],
    ) -> dict[str, str | None]:
        """Verify mode: a member claims to stand at a camera (a kiosk's QR scan); the camera
        then checks that one member and the claim expires after ``ttl_s``. ``refresh_photos``
        says, in words, when the kiosk should offer the member new photos (their recent
        confirmed visits matched close to the threshold); null otherwise."""
        from consentcam.events.claims import claim_document, open_claim

        camera_id = _camera_in_scope(store, principal, body.camera, body.site)
        ledger = principal_ledger(request, principal)
        claim = open_claim(ledger, camera_id, body.member_id, ttl_s=body.ttl_s)
        return claim_document(ledger, claim)

    @app.post("/api/v1/events/{event_id}/confirm", responses=ERROR_RESPONSES)
    def post_confirm(
        event_id: str,
        body: ConfirmIn,
        request: Request,
        principal: Annotated[Principal, Depends(require("events:confirm"))],
    ) -> dict[str, Any]:
        """Door mode: staff confirm (or dismiss) a recognition before any action beyond a
        greeting; audited with the actor."""
        from consentcam.events.staff import confirm_event

        _check_event_in_scope(store, principal, event_id)
        return confirm_event(principal_ledger(request, principal), event_id, confirm=body.confirm)

    @app.get(
        "/api/v1/events/{event_id}/snapshot",
        responses={**ERROR_RESPONSES, 200: {"content": {"image/jpeg": {}}}},
        response_class=Response,
    )
    def get_snapshot(
        event_id: str,
        request: Request,
        principal: Annotated[Principal, Depends(require("members:read"))],
    ) -> Response:
        """Door mode: the alert's snapshot of the person at the door (JPEG), for the roles that
        may see the member card; 404 once dismissed or left unanswered (deleted). Every view is
        audited (``snapshot.view``)."""
        from consentcam.consent.pictures import event_snapshot

        _check_event_in_scope(store, principal, event_id)
        jpeg = event_snapshot(principal_ledger(request, principal), event_id)
        return Response(jpeg, media_type="image/jpeg", headers=PICTURE_HEADERS)

    app.include_router(auth_router, prefix="/api/v1")
    from consentcam.api.routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router, prefix="/api/v1")
    from consentcam.web import mount_web

    mount_web(app)  # the dashboard and kiosk pages (static; all data comes from the API)
    return app


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    camera: str = Field(max_length=200, description="Camera id or name (verify mode).")
    member_id: str = Field(max_length=64, description="The member who claims to be at the camera.")
    site: str | None = Field(
        None, max_length=200, description="Site of the camera, when names repeat."
    )
    ttl_s: StrictFloat | None = Field(None, gt=0, le=3600, description="Seconds until it expires.")


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Strict: only JSON true or false decides what happens to a member's door event.
    confirm: StrictBool = Field(True, description="true to confirm, false to dismiss.")


def _stream_start(
    store: Store, principal: Principal, site: str | None, last_event_id: str | None
) -> tuple[list[str], int]:
    """The caller's site ids (one site when ``site`` is given) and the seq to resume after;
    raises before the response starts, so bad input gets a proper error status."""
    from consentcam.api.queries import scoped_site
    from consentcam.events.outbox import latest_seq
    from consentcam.store.models import Site

    after: int | None = None
    if last_event_id is not None:
        value = last_event_id.strip()
        # Length first: int() of thousands of digits is refused, and slow before that.
        digits = value.isascii() and value.isdigit() and len(value) <= len(str(SEQ_END))
        if not digits or int(value) >= SEQ_END:
            raise InputError(f"Last-Event-ID must be an event seq (an integer 0-{SEQ_END - 1})")
        after = int(value)
    with store.transaction() as s:
        if site is not None:
            # Out of scope answers as missing, byte for byte (issue 13, item 6).
            site_ids = [scoped_site(s, principal, site).id]
        else:
            # Never None ("every site of every tenant"): always the tenant's sites in scope.
            # Sites added while a stream is open appear when the client reconnects.
            query = select(Site.id).where(Site.tenant_id == principal.tenant_id)
            site_ids = [i for i in s.execute(query).scalars() if principal.covers(i)]
        if after is None:
            after = latest_seq(s)
    return site_ids, after


def _camera_in_scope(store: Store, principal: Principal, ref: str, site: str | None) -> str:
    """The id of camera ``ref`` in the caller's tenant and sites; NotFound otherwise, worded
    as for a camera (or site) that does not exist."""
    from consentcam.api.queries import scoped_camera, scoped_site

    with store.transaction() as s:
        where = scoped_site(s, principal, site) if site is not None else None
        return scoped_camera(s, principal, ref, where).id


def _check_event_in_scope(store: Store, principal: Principal, event_id: str) -> None:
    """NotFound unless the event belongs to the caller's tenant and sites (the same answer as
    for an event that does not exist, so ids of other tenants reveal nothing)."""
    from consentcam.store.models import Event

    with store.transaction() as s:
        event = s.get(Event, event_id)
        if event is None or event.tenant_id != principal.tenant_id:
            raise NotFound(f"no event {shown(event_id)}")
        if not principal.covers(event.site_id):
            raise NotFound(f"no event {shown(event_id)}")
