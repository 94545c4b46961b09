"""``RequestGuard``: what a request must pass before the application reads its body.

FastAPI reads and parses a request's body before it runs the route's dependencies, so the
authentication in those dependencies came after the whole body was in memory or spooled to
disk: anyone could make the server take in 100 MB before the 401. The guard, an ASGI middleware
in front of the routes, settles three things first:

1. On an unsafe method of a route that needs credentials, who the caller is and whether their
   role has the permission the route's ``require`` dependency asks for
   (``security.authenticate``): 401 or 403 before a byte of the body is read. The caller is
   kept in the request's scope, so the route's own dependencies do not look it up again.
2. The route's body limit (``body_limits``): a declared Content-Length over it gets 413 at
   once, a chunked body 413 as soon as it passes it.
3. A deadline for the whole body (``api.body_timeout_s``): a slow or half-sent body gets 408.

Each of these answers closes the connection, so the rest of the body is never read. Tests that
stand in for ``current_principal`` (``dependency_overrides``) leave authentication to it; the
limits and the deadline still apply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentcam.api.routes.enrolment import MAX_PHOTOS
from consentcam.api.routes.purchases import MAX_CSV_BYTES
from consentcam.api.schemas import AuditAnchorsIn, ConsentIn
from consentcam.api.security import (
    PUBLIC_ROUTES,
    UNSAFE_METHODS,
    authenticate,
    check_permission,
    current_principal,
    required_permission,
)
from consentcam.config import Settings

log = logging.getLogger(__name__)

API = "/api/v1"
# Boundaries and part headers of a form's few parts, with room to spare.
MULTIPART_OVERHEAD = 64 * 1024
# The rest of a JSON document around its one large field.
JSON_OVERHEAD = 64 * 1024
# One audit anchor as JSON (seq, 64 hex digits, an ISO 8601 time), spaced generously.
ANCHOR_JSON_BYTES = 256


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The largest body, in bytes, each route takes: ``routes`` by path template, ``default``
    for every other route (JSON, or no body at all)."""

    default: int
    routes: Mapping[str, int]

    def of(self, path: str | None) -> int:
        return self.default if path is None else self.routes.get(path, self.default)


def body_limits(settings: Settings) -> BodyLimits:
    """Each route's limit, from what it takes: photos up to the decoder's byte limit each, the
    purchases file, consent evidence and audit anchors up to their schemas' lengths."""
    default = settings.api.max_json_bytes
    evidence = _max_length(ConsentIn, "evidence")
    anchors = _max_length(AuditAnchorsIn, "anchors")
    return BodyLimits(
        default,
        {
            f"{API}/members/{{member_id}}/enrol": (
                settings.vision.decode.max_bytes * MAX_PHOTOS + MULTIPART_OVERHEAD
            ),
            f"{API}/purchases": MAX_CSV_BYTES + MULTIPART_OVERHEAD,
            f"{API}/members/{{member_id}}/consents": max(default, evidence + JSON_OVERHEAD),
            f"{API}/audit/verify": max(default, anchors * ANCHOR_JSON_BYTES + JSON_OVERHEAD),
        },
    )


def too_large(limit: int) -> str:
    return f"the request body is over this route's {limit}-byte limit"


class BodyRefused(HTTPException):
    """Raised from the guarded ``receive``: the body passed its limit (413) or its deadline
    (408). FastAPI passes HTTP errors from body reading through to the error handlers."""


class RequestGuard:
    """ASGI middleware: authentication and role before the body, body limits, body deadline
    (see the module's description). Plain ASGI, so responses stream through unbuffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._limits: tuple[Settings, BodyLimits] | None = None
        self._permissions: dict[int, tuple[str, ...]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api: FastAPI = scope["app"]
        settings: Settings = api.state.settings
        # Only unsafe methods carry a body a route reads: others need no route lookup.
        unsafe = scope["method"] in UNSAFE_METHODS
        route = _route(api, scope) if unsafe else None
        limit = self._body_limits(settings).of(route.path if route is not None else None)
        refusal = await self._refusal(api, scope, route)
        declared = _content_length(scope)
        if refusal is None and declared is not None and declared > limit:
            refusal = _refused(413, too_large(limit))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        body = _GuardedBody(receive, limit, settings.api.body_timeout_s)
        try:
            await self.app(scope, body.receive, body.sender(send))
        except BodyRefused as exc:
            # Raised where no error handler caught it: answer if nothing was sent yet; else
            # the server closes the half-sent response.
            if not body.started:
                await _refused(exc.status_code, str(exc.detail))(scope, receive, send)

    def _body_limits(self, settings: Settings) -> BodyLimits:
        if self._limits is None or self._limits[0] is not settings:
            self._limits = (settings, body_limits(settings))
        return self._limits[1]

    async def _refusal(
        self, api: FastAPI, scope: Scope, route: _Route | None
    ) -> JSONResponse | None:
        """A 401/403 for an unsafe request whose caller or role is not good enough for the
        route; None to go on."""
        if route is None or route.path in PUBLIC_ROUTES:
            return None
        if current_principal in api.dependency_overrides:
            return None  # a test stands in for authentication
        try:
            principal = current_principal(await run_in_threadpool(authenticate, Request(scope)))
            for permission in self._route_permissions(route):
                check_permission(principal, permission)
        except HTTPException as exc:
            return _refused(exc.status_code, str(exc.detail), exc.headers)
        except SQLAlchemyError:
            # The store is out of reach: the route's own dependencies meet the same error, and
            # the app's handlers answer it (503); the body limit still holds meanwhile.
            log.debug("the guard could not authenticate %s: store error", route.path)
        return None

    def _route_permissions(self, route: _Route) -> tuple[str, ...]:
        """The permissions the route's ``require`` dependencies ask for (routes live as long as
        the app, so their ids are stable keys)."""
        found = self._permissions.get(id(route.api_route))
        if found is None:
            found = self._permissions[id(route.api_route)] = _permissions(route.api_route)
        return found


class _GuardedBody:
    """A request's ``receive`` with a byte limit and a deadline for the whole body; and its
    ``send``, which closes the connection after a refusal so the rest is never read."""

    def __init__(self, receive: Receive, limit: int, timeout_s: float) -> None:
        self._receive = receive
        self.limit = limit
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.read = 0
        self.done = False
        self.refused = False
        self.started = False

    async def receive(self) -> Message:
        if self.done:
            # After the body: only a disconnect can come, and a stream may wait for it for hours.
            return await self._receive()
        try:
            left = max(0.0, self.deadline - time.monotonic())
            message = await asyncio.wait_for(self._receive(), left)
        except TimeoutError:
            self.refused = True
            raise BodyRefused(
                408, f"the request body did not arrive within {self.timeout_s:g} s"
            ) from None
        if message["type"] != "http.request":
            self.done = True
            return message
        self.read += len(message.get("body", b""))
        if self.read > self.limit:
            self.refused = True
            raise BodyRefused(413, too_large(self.limit))
        self.done = not message.get("more_body", False)
        return message

    def sender(self, send: Send) -> Send:
        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.started = True
                if self.refused:
                    MutableHeaders(scope=message)["Connection"] = "close"
            await send(message)

        return guarded_send


@dataclass(frozen=True, slots=True)
class _Route:
    """An API route and its full path template (the prefixes of the routers it is in)."""

    path: str
    api_route: APIRoute


def _route(api: FastAPI, scope: Scope) -> _Route | None:
    """The API route that will answer the request, as the router picks it (the first full
    match); None for anything else (pages, static files, 404, 405)."""
    for candidate in _candidates(api):
        match, _ = candidate.matches(scope)
        if match == Match.FULL:
            route = getattr(candidate, "original_route", candidate)
            if not isinstance(route, APIRoute):
                return None
            return _Route(str(candidate.path), route)
    return None


def _candidates(api: FastAPI) -> Iterable[Any]:
    """The app's routes in matching order, each with its full path: FastAPI 0.16x keeps an
    included router whole (``iter_route_contexts`` opens it); earlier versions copy its routes
    into the app's list."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:
        return list(api.router.routes)
    return list(contexts(api.router.routes))


def _permissions(route: APIRoute) -> tuple[str, ...]:
    found: list[str] = []
    pending = [route.dependant]
    while pending:
        for dependency in pending.pop().dependencies:
            permission = required_permission(dependency.call)
            if permission is not None:
                found.append(permission)
            pending.append(dependency)
    return tuple(found)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _refused(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": message}, status_code=status, headers={**(headers or {}), "Connection": "close"}
    )


def _max_length(model: type[BaseModel], field: str) -> int:
    for item in model.model_fields[field].metadata:
        length = getattr(item, "max_length", None)
        if isinstance(length, int):
            return length
    raise ValueError(f"{model.__name__}.{field} has no max_length")
