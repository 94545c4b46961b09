"""Who may call what: authentication of a request, the dependencies routes declare, rate
limits, and the login routes.

Routes declare ``principal: Annotated[Principal, Depends(require("members:read"))]`` and build
their ledger with ``principal_ledger(request, principal)``, which confines every library call to the
caller's tenant and names the caller in the audit log; ``check_site`` confines a site-scoped
user or token to its sites (an out-of-scope site is reported as not found, like another
tenant's, so the API does not reveal what exists). Tests may override ``current_principal``
through FastAPI's ``dependency_overrides``.

A caller authenticates with ``Authorization: Bearer cc_...`` (an API token) or with the session
cookie set by ``POST /api/v1/auth/login``. Cookie-authenticated unsafe requests must carry the
CSRF token in ``X-CSRF-Token`` (the login response returns it, and the readable
``consentcam_csrf`` cookie keeps it for the page after a reload), and, as a second line behind
it, come from this server's own origin or one in ``api.allowed_origins`` (their ``Origin``
header, or ``Referer`` when a browser sends no Origin); browsers never attach a Bearer token on
their own, so token requests need neither. Only the paths in ``PUBLIC_ROUTES`` answer without
credentials.

``authenticate`` is the one place credentials are checked: the dependencies here call it, and
so does ``consentcam.api.guard.RequestGuard``, which settles the caller and their role before a
request's body is read; the caller it finds is kept in the request's scope, so each request is
looked up once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from consentcam.api.schemas import (
    INVALID_REQUEST,
    TOO_MANY_REQUESTS,
    UNAUTHENTICATED,
    error_response,
)
from consentcam.auth.passwords import MAX_LENGTH
from consentcam.auth.ratelimit import RateLimits, bucket_key
from consentcam.auth.roles import PERMISSIONS, Principal
from consentcam.auth.sessions import SESSION_TTL, login, logout, session_auth
from consentcam.auth.tokens import token_principal
from consentcam.consent.context import DEFAULT_TENANT, Ledger, store_keys
from consentcam.errors import NotFound
from consentcam.store.db import Store

SESSION_COOKIE = "consentcam_session"
CSRF_COOKIE = "consentcam_csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_PATH = "/api/v1/auth/login"
# Everything else needs credentials; a test checks every /api/ route against this set.
PUBLIC_ROUTES = frozenset(
    {
        "/healthz",
        LOGIN_PATH,
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        # The consent notice a sign's QR code opens: public by law, addressed by site id.
        "/api/v1/public/sites/{site_id}/notice",
    }
)
# Login guessing: per client address and user name, and per client address over all names
# (looser, as a shop's staff may share one address behind NAT).
LOGIN_PER_MINUTE, LOGIN_BURST = 5.0, 5
LOGIN_CLIENT_PER_MINUTE, LOGIN_CLIENT_BURST = 20.0, 20
LOGIN_FAILED = "wrong tenant, user name or password"
# Where a request's authenticated caller is kept once found (by the guard or a dependency).
PRINCIPAL_SCOPE_KEY = "consentcam.principal"
WRONG_ORIGIN = (
    "cross-origin request refused: its Origin (or Referer) is not this server's origin; behind "
    "a proxy that rewrites the Host header, list the public origin in api.allowed_origins"
)
DEFAULT_PORTS = {"http": 80, "https": 443}
# Neither raises by itself (auto_error=False): current_principal gives the one 401 answer.
BEARER_TOKEN = HTTPBearer(
    scheme_name="apiToken",
    bearerFormat="cc_<id>_<secret>",
    description="An API token ('consentcam token issue'), as 'Authorization: Bearer <token>'.",
    auto_error=False,
)
SESSION_COOKIE_SCHEME = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description=f"The session cookie set by POST {LOGIN_PATH}; unsafe requests must also send "
    f"the CSRF token it returned in the {CSRF_HEADER} header.",
    auto_error=False,
)


# Which permission each ``require`` dependency checks, so the guard can check it before the body.
_REQUIRED: dict[Callable[..., Principal], str] = {}


def authenticate(request: Request) -> Principal | None:
    """The caller the request's credentials name (a Bearer API token, or a session cookie with
    its CSRF header and this origin on unsafe methods); None when it presents none. 401 for
    credentials that are wrong, 403 for a cookie request missing the CSRF token or sent from
    another origin."""
    found: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if found is not None:
        return found
    store: Store = request.app.state.store
    authorization = request.headers.get("authorization")
    scheme, token = get_authorization_scheme_param(authorization)
    if authorization is not None:
        if scheme.lower() != "bearer" or not token:
            # Some other scheme, or no token: an error, never a fall-back to the cookie.
            raise _unauthenticated("use 'Authorization: Bearer <token>'")
        principal = _token_caller(store, token)
    else:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return None
        principal = _session_caller(request, store, session_id)
    request.scope[PRINCIPAL_SCOPE_KEY] = principal
    return principal


def optional_principal(
    request: Request,
    # Declared for the OpenAPI document's security schemes; authenticate reads the headers.
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER_TOKEN)],
    session_id: Annotated[str | None, Depends(SESSION_COOKIE_SCHEME)],
) -> Principal | None:
    """The caller, or None for a request without credentials (``authenticate``)."""
    return authenticate(request)


def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """The authenticated caller (a Bearer API token, or a session cookie with its CSRF header
    on unsafe methods); 401 otherwise."""
    if principal is None:
        raise _unauthenticated("authentication required")
    return principal


def require(permission: str) -> Callable[..., Principal]:
    """A dependency: the caller, if their role grants ``permission``; 403 otherwise."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        check_permission(principal, permission)
        return principal

    _REQUIRED[dependency] = permission
    return dependency


def required_permission(call: Callable[..., Any] | None) -> str | None:
    """The permission ``call`` checks, if it is a ``require`` dependency."""
    return _REQUIRED.get(call) if call is not None else None


def check_permission(principal: Principal, permission: str) -> None:
    """403 unless the caller's role grants ``permission``."""
    if not principal.may(permission):
        raise HTTPException(status_code=403, detail=f"role {principal.role!r} may not {permission}")


def principal_ledger(request: Request, principal: Principal) -> Ledger:
    """The ledger for this caller: their tenant, their name in the audit log."""
    state = request.app.state
    return Ledger(
        state.store, store_keys(state.settings), principal.actor, state.settings, principal.tenant
    )


def check_site(principal: Principal, site_id: str, what: str = "site") -> None:
    """NotFound (404) unless the caller's scope covers ``site_id``. The message never names
    the id (an internal id the caller did not send); callers answer with the same words as for
    a missing record (``api.queries.scoped_site``)."""
    if not principal.covers(site_id):
        raise NotFound(f"no such {what}")


def rate_limited(name: str, per_minute: float, burst: int | None = None) -> Callable[..., None]:
    """A dependency that allows each caller ``per_minute`` calls (bursts of ``burst``, default
    ``per_minute``) to the routes that declare it, and answers 429 with Retry-After beyond that:
    ``dependencies=[Depends(rate_limited("enrol", per_minute=10))]``. An authenticated caller
    is counted as themselves wherever they call from, anonymous calls per client address in
    buckets of their own (``bucket_key``): anonymous requests from a kiosk's address never
    spend the kiosk's budget."""

    def dependency(
        request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]
    ) -> None:
        key = bucket_key(principal, client_address(request))
        enforce_limit(request, name, key, per_minute, burst)

    return dependency


def enforce_limit(
    request: Request, name: str, key: str, per_minute: float, burst: int | None = None
) -> None:
    """Take one call from limit ``name`` for ``key``; 429 when there is none left."""
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    if limits is None:
        limits = request.app.state.rate_limits = RateLimits()
    wait = limits.get(name, per_minute, burst).take(key)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise HTTPException(
            status_code=429,
            detail=f"too many requests; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


def client_address(request: Request) -> str:
    """The peer's address. Behind a reverse proxy, run uvicorn with --proxy-headers and
    --forwarded-allow-ips so this is the real client, not the proxy."""
    return request.client.host if request.client else "unknown"


def _token_caller(store: Store, token: str) -> Principal:
    with store.transaction() as s:
        principal = token_principal(s, token)
    if principal is None:
        raise _unauthenticated("invalid, expired or revoked token")
    return principal


def _session_caller(request: Request, store: Store, session_id: str) -> Principal:
    with store.transaction() as s:
        auth = session_auth(s, session_id)
    if auth is None:
        raise _unauthenticated("session expired or unknown; log in again")
    if request.method in UNSAFE_METHODS:
        if not auth.csrf_ok(request.headers.get(CSRF_HEADER)):
            raise HTTPException(status_code=403, detail=f"missing or wrong {CSRF_HEADER} header")
        check_origin(request)
    return auth.principal


def check_origin(request: Request) -> None:
    """403 unless the request comes from this server's origin or an allowed one: its Origin
    header, or its Referer when it has no Origin (older browsers), neither: refused. A second
    line behind the CSRF token: a page elsewhere that somehow got the token still cannot use
    the session. ``Origin: null`` (sandboxed frames, data: pages) never matches."""
    sent = request.headers.get("origin")
    if sent is None:
        sent = request.headers.get("referer")
    origin = origin_of(sent) if sent is not None else None
    own = origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}")
    allowed = {own, *(origin_of(a) for a in request.app.state.settings.api.allowed_origins)}
    if origin is None or origin not in allowed:
        raise HTTPException(status_code=403, detail=WRONG_ORIGIN)


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lower case, without a default port; None for
    anything else (``null``, other schemes, a malformed URL)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + ("" if port in (None, DEFAULT_PORTS[scheme]) else f":{port}")


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": "Bearer"})


router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(DEFAULT_TENANT, min_length=1, max_length=200, description="Tenant name.")
    username: str = Field(min_length=1, max_length=200, description="User name in the tenant.")
    password: SecretStr = Field(min_length=1, max_length=MAX_LENGTH, description="Password.")


class LoginOut(BaseModel):
    csrf_token: str = Field(description=f"Send it as {CSRF_HEADER} on unsafe requests.")
    user: str
    tenant: str
    role: str
    expires_at: str = Field(description="When the session ends (ISO 8601, UTC).")


class Me(BaseModel):
    user: str
    tenant: str
    role: str
    site_ids: list[str] | None = Field(description="Sites in scope; null: every site.")
    via: str = Field(description="'session' or 'token'.")
    permissions: list[str]


@router.post(
    "/login",
    responses={
        400: error_response("The body could not be read as JSON."),
        401: error_response(f"Failed: always '{LOGIN_FAILED}'."),
        **INVALID_REQUEST,
        **TOO_MANY_REQUESTS,
    },
)
def login_route(body: LoginIn, request: Request, response: Response) -> LoginOut:
    """Log in with a password: sets the HttpOnly session cookie (12 h) and returns the CSRF
    token. Failures give one message whatever went wrong; every attempt is audited."""
    client = client_address(request)
    enforce_limit(request, "login:client", client, LOGIN_CLIENT_PER_MINUTE, LOGIN_CLIENT_BURST)
    user_key = f"{client}|{body.tenant}|{body.username.casefold()}"
    enforce_limit(request, "login:user", user_key, LOGIN_PER_MINUTE, LOGIN_BURST)
    password = body.password.get_secret_value()
    new = login(request.app.state.store, body.tenant, body.username, password, client=client)
    if new is None:
        raise HTTPException(status_code=401, detail=LOGIN_FAILED)
    _set_cookie(request, response, SESSION_COOKIE, new.session_id, http_only=True)
    # Readable by the page's own scripts (double submit), never sent to other sites.
    _set_cookie(request, response, CSRF_COOKIE, new.csrf_token, http_only=False)
    who = new.principal
    return LoginOut(
        csrf_token=new.csrf_token,
        user=who.user,
        tenant=who.tenant,
        role=who.role,
        expires_at=new.expires_at.isoformat(),
    )


@router.post(
    "/logout",
    status_code=204,
    responses={
        **UNAUTHENTICATED,
        403: error_response(f"A session request without its {CSRF_HEADER} header."),
    },
)
def logout_route(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Response:
    """End the cookie session (with its CSRF header, like any unsafe request)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if principal.via == "session" and session_id:
        logout(request.app.state.store, session_id, principal)
    response = Response(status_code=204)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict")
    return response


@router.get("/me", responses=UNAUTHENTICATED)
def me_route(principal: Annotated[Principal, Depends(current_principal)]) -> Me:
    """The caller: user, tenant, role, site scope and what the role may do."""
    return Me(
        user=principal.user,
        tenant=principal.tenant,
        role=principal.role,
        site_ids=None if principal.site_ids is None else sorted(principal.site_ids),
        via=principal.via,
        permissions=sorted(PERMISSIONS[principal.role]),
    )


def _set_cookie(
    request: Request, response: Response, name: str, value: str, *, http_only: bool
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=http_only,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
