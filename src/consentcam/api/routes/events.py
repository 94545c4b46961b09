"""Event history (the live stream is in ``stream``, door confirmations in ``door``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from consentcam.api.queries import events_page, scoped_site, visible_sites
from consentcam.api.schemas import ERROR_RESPONSES, SEQ_END, EventOut, EventPage
from consentcam.api.security import principal_ledger, require
from consentcam.audit import chain
from consentcam.auth.roles import Principal
from consentcam.events.outbox import event_document

router = APIRouter(tags=["events"], responses=ERROR_RESPONSES)


@router.get("/events")
def list_events(
    request: Request,
    principal: Annotated[Principal, Depends(require("events:read"))],
    site: Annotated[
        str | None, Query(description="Site name; every site of yours if unset.")
    ] = None,
    after: Annotated[
        int | None,
        Query(ge=0, lt=SEQ_END, description="Events after this seq; the latest if unset."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most events returned.")] = 100,
) -> EventPage:
    """Events of the caller's sites still retained, in seq order (newest last). Alerts carry
    member cards, so each read is audited (``event.list``: sites and count)."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        sites = [scoped_site(s, principal, site)] if site else visible_sites(s, principal)
        rows = events_page(s, [x.id for x in sites], after, limit)
        items = [EventOut(**event_document(seq, event)) for seq, event in rows]
        chain.append(
            s,
            actor=ledger.actor,
            action="event.list",
            details={"sites": sorted(x.name for x in sites), "count": len(items)},
            tenant_id=principal.tenant_id,
        )
    last = items[-1].seq if items else after
    return EventPage(items=items, last_seq=last)
