"""The HTTP API: ``GET /healthz`` and ``GET /api/v1/events/stream`` (server-sent events).

The API has no authentication yet (it comes with user accounts in a later release), so
``consentcam serve`` listens on loopback addresses only and refuses any other host
(``check_bind_host``): events name members, and nobody on the network may read them unasked.

Library errors become HTTP errors in exactly one place (``STATUS_CODES`` and one handler), with a
JSON body ``{"error": message}``.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from consentcam import __version__
from consentcam.config import Settings
from consentcam.consent.ledger import Ledger, store_keys
from consentcam.errors import (
    ConfigError,
    ConsentcamError,
    InputError,
    NotFound,
    PolicyError,
)
from consentcam.store.db import Store, open_store

# The single mapping from the exception tree to HTTP status; anything not listed is a 500.
STATUS_CODES: dict[type[ConsentcamError], int] = {
    InputError: 400,
    ConfigError: 400,
    PolicyError: 403,
    NotFound: 404,
}
LOOPBACK_NAMES = ("localhost",)
API_ACTOR = "api:loopback"


def status_code(error: ConsentcamError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def check_bind_host(host: str) -> None:
    """PolicyError unless ``host`` is a loopback address: until the API authenticates its
    callers it must not be reachable from the network."""
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host.lower() in LOOPBACK_NAMES
    if not loopback:
        raise PolicyError(
            f"refusing to listen on {host}: the API has no authentication yet, and its event "
            "stream names members, so it only listens on a loopback address (127.0.0.1, ::1, "
            "localhost); reach it from elsewhere through an authenticating reverse proxy"
        )


def create_app(
    settings: Settings,
    *,
    poll_interval_s: float = 1.0,
    keepalive_s: float = 15.0,
    stream_max_idle_s: float | None = None,
) -> FastAPI:
    """The API over the store named by ``settings`` (which must exist: 'consentcam init').

    Serve it on a loopback address only (see ``check_bind_host``): there is no authentication
    yet. ``stream_max_idle_s`` ends event streams after that long without an event (tests)."""
    store = open_store(settings)
    app = FastAPI(title="consentcam", version=__version__)
    app.state.store = store
    app.state.settings = settings

    @app.exception_handler(ConsentcamError)
    async def _library_error(request: Request, exc: ConsentcamError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=status_code(exc))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness and store reachability."""
        with store.transaction() as s:
            s.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    @app.get("/api/v1/events/stream", response_class=StreamingResponse)
    def events_stream(
        site: Annotated[str | None, Query(description="Site name; all sites if omitted.")] = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        """Events as ``text/event-stream``, each with its outbox seq as id. Without a
        ``Last-Event-ID`` header the stream starts with the next new event; with one it resumes
        after that seq (``0`` replays every event still retained)."""
        from consentcam.events.sse import tail_events

        site_ids, after = _stream_start(store, site, last_event_id)
        stream = tail_events(
            store,
            site_ids,
            after,
            interval_s=poll_interval_s,
            keepalive_s=keepalive_s,
            max_idle_s=stream_max_idle_s,
        )
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            # Buffering proxies (nginx) would hold messages back; caches must not keep them.
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.post("/api/v1/claims", status_code=201)
    def post_claim(body: ClaimIn) -> dict[str, str]:
        """Verify mode: a member claims to stand at a camera (a kiosk's QR scan); the camera
        then checks that one member and the claim expires after ``ttl_s``."""
        from consentcam.pipeline.claims import open_claim

        claim = open_claim(
            ledger(), body.camera, body.member_id, site_name=body.site, ttl_s=body.ttl_s
        )
        return {
            "claim_id": claim.id,
            "camera_id": claim.camera_id,
            "member_id": claim.member_id,
            "expires_at": claim.expires_at.isoformat(),
        }

    @app.post("/api/v1/events/{event_id}/confirm")
    def post_confirm(event_id: str, body: ConfirmIn) -> dict[str, Any]:
        """Door mode: staff confirm (or dismiss) a recognition before any action beyond a
        greeting; audited with the actor."""
        from consentcam.pipeline.staff import confirm_event

        return confirm_event(ledger(), event_id, confirm=body.confirm)

    def ledger() -> Ledger:
        # Until the API authenticates callers (a later release), the actor is the local host.
        return Ledger(store, store_keys(settings), API_ACTOR, settings)

    from consentcam.api.routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router, prefix="/api/v1")
    return app


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    camera: str = Field(description="Camera id or name (verify mode).")
    member_id: str = Field(description="The member who claims to be at the camera.")
    site: str | None = Field(None, description="Site of the camera, when names repeat.")
    ttl_s: float | None = Field(None, gt=0, le=3600, description="Seconds until it expires.")


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: bool = Field(True, description="True to confirm, False to dismiss.")


def _stream_start(
    store: Store, site: str | None, last_event_id: str | None
) -> tuple[list[str] | None, int]:
    """The site filter and the seq to resume after; raises before the response starts, so bad
    input gets a proper error status."""
    from consentcam.consent.ledger import site_by_name
    from consentcam.events.outbox import latest_seq

    after: int | None = None
    if last_event_id is not None:
        value = last_event_id.strip()
        if not (value.isascii() and value.isdigit()):
            raise InputError(f"Last-Event-ID must be an event seq (an integer >= 0), got {value!r}")
        after = int(value)
    with store.transaction() as s:
        site_ids = [site_by_name(s, site).id] if site is not None else None
        if after is None:
            after = latest_seq(s)
    return site_ids, after
