"""The live event stream, ``GET /events/stream`` (server-sent events; the event history is in
``events``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from consentcam.api.queries import scoped_site
from consentcam.api.schemas import ERROR_RESPONSES, SEQ_END
from consentcam.api.security import require
from consentcam.auth.roles import Principal
from consentcam.errors import InputError
from consentcam.events.outbox import latest_seq
from consentcam.events.sse import OutboxWatch, tail_events
from consentcam.store.db import Store
from consentcam.store.models import Site

router = APIRouter()


@dataclass(frozen=True)
class StreamSettings:
    """How the app's event streams run, set by ``create_app`` in ``app.state.event_stream``:
    ``watch`` is shared by every open stream (one outbox query per process);
    ``max_idle_s`` ends a stream after that long without an event (tests)."""

    watch: OutboxWatch
    keepalive_s: float
    max_idle_s: float | None


@router.get(
    "/events/stream",
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
    request: Request,
    principal: Annotated[Principal, Depends(require("events:read"))],
    site: Annotated[str | None, Query(description="Site name; all sites if omitted.")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Events at the caller's sites as ``text/event-stream``, each with its outbox seq as
    id. Without a ``Last-Event-ID`` header the stream starts with the next new event; with
    one it resumes after that seq (``0`` replays every event still retained)."""
    store: Store = request.app.state.store
    settings: StreamSettings = request.app.state.event_stream
    site_ids, after = _stream_start(store, principal, site, last_event_id)
    stream = tail_events(
        store,
        site_ids,
        after,
        interval_s=settings.watch.interval_s,
        keepalive_s=settings.keepalive_s,
        max_idle_s=settings.max_idle_s,
        watch=settings.watch,
    )
    # Buffering proxies (nginx) would hold messages back; SecurityHeaders adds no-store.
    return StreamingResponse(
        stream, media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )


def _stream_start(
    store: Store, principal: Principal, site: str | None, last_event_id: str | None
) -> tuple[list[str], int]:
    """The caller's site ids (one site when ``site`` is given) and the seq to resume after;
    raises before the response starts, so bad input gets a proper error status."""
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
