"""The HTTP API: the app factory, its middleware, and the one mapping of the exception tree to
HTTP errors. The routes are in ``consentcam.api.routes`` (one module per area; ``GET /healthz``
public at the root, the rest under /api/v1), the login routes in ``consentcam.api.security``, and
their models in ``consentcam.api.schemas``.

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

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentcam import __version__
from consentcam.api.guard import RequestGuard
from consentcam.api.routes import LIVE_ROUTERS, ROUTERS, health
from consentcam.api.routes.stream import StreamSettings
from consentcam.api.security import router as auth_router
from consentcam.auth.ratelimit import Clock, RateLimits
from consentcam.config import Settings
from consentcam.errors import (
    ConfigError,
    Conflict,
    ConsentcamError,
    InputError,
    NotFound,
    PolicyError,
    StoreUnavailable,
)
from consentcam.events.sse import OutboxWatch
from consentcam.store.db import open_store, store_unavailable
from consentcam.web import mount_web

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
    store = open_store(settings)
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
    app.state.event_stream = StreamSettings(
        OutboxWatch(store, poll_interval_s), keepalive_s, stream_max_idle_s
    )
    # Added first, so it runs inside SecurityHeaders: its early answers get the headers too.
    app.add_middleware(RequestGuard)
    app.add_middleware(SecurityHeaders)
    install_error_handlers(app)

    app.include_router(health.router)
    for router in [*LIVE_ROUTERS, auth_router, *ROUTERS]:
        app.include_router(router, prefix="/api/v1")
    mount_web(app)  # the dashboard and kiosk pages (static; all data comes from the API)
    return app
