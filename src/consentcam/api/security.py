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
``consentcam_csrf`` cookie keeps it for the page after a reload); browsers never attach a Bearer
token on their own, so token requests need no CSRF token. Only the paths in ``PUBLIC_ROUTES``
answer without credentials.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from consentcam.api.schemas import (
    INVALID_REQUEST,
    TOO_MANY_REQUESTS,
    UNAUTHENTICATED,
    error_response,
)
from consentcam.auth.passwords import MAX_LENGTH
from consentcam.auth.ratelimit import RateLimits
from consentcam.auth.roles import PERMISSIONS, Principal
from consentcam.auth.sessions import SESSION_TTL, login, logout, session_auth
from consentcam.auth.tokens import token_principal
from consentcam.consent.ledger import DEFAULT_TENANT, Ledger, store_keys
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


def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER_TOKEN)],
    session_id: Annotated[str | None, Depends(SESSION_COOKIE_SCHEME)],
) -> Principal:
    """The authenticated caller (a Bearer API token, or a session cookie with its CSRF header
    on unsafe methods); 401 otherwise."""
    store: Store = request.app.state.store
    if bearer is not None:
        return _token_caller(store, bearer.credentials)
    if "authorization" in request.headers:
        # Some other scheme, or no token: an error, never a fall-back to the cookie.
        raise _unauthenticated("use 'Authorization: Bearer <token>'")
    if not session_id:
        raise _unauthenticated("authentication required")
    with store.transaction() as s:
        auth = session_auth(s, session_id)
    if auth is None:
        raise _unauthenticated("session expired or unknown; log in again")
    if request.method in UNSAFE_METHODS and not auth.csrf_ok(request.headers.get(CSRF_HEADER)):
        raise HTTPException(status_code=403, detail=f"missing or wrong {CSRF_HEADER} header")
    return auth.principal


def require(permission: str) -> Callable[..., Principal]:
    """A dependency: the caller, if their role grants ``permission``; 403 otherwise."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.may(permission):
            raise HTTPException(
                status_code=403, detail=f"role {principal.role!r} may not {permission}"
            )
        return principal

    return dependency


def principal_ledger(request: Request, principal: Principal) -> Ledger:
    """The ledger for this caller: their tenant, their name in the audit log."""
    state = request.app.state
    return Ledger(
        state.store, store_keys(state.settings), principal.actor, state.settings, principal.tenant
    )


def check_site(principal: Principal, site_id: str, what: str = "site") -> None:
    """NotFound (404) unless the caller's scope covers ``site_id``."""
    if not principal.covers(site_id):
        raise NotFound(f"no {what} {site_id!r}")


def rate_limited(
    name: str, per_minute: float, burst: int | None = None
) -> Callable[[Request], None]:
    """A dependency that allows each client address ``per_minute`` calls (bursts of ``burst``,
    default ``per_minute``) to the routes that declare it, and answers 429 with Retry-After
    beyond that: ``dependencies=[Depends(rate_limited("enrol", per_minute=10))]``."""

    def dependency(request: Request) -> None:
        enforce_limit(request, name, client_address(request), per_minute, burst)

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
