"""Door mode: staff confirm or dismiss a recognition (``POST /events/{id}/confirm``) and see the
alert's snapshot (``GET /events/{id}/snapshot``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from consentcam.api.schemas import ERROR_RESPONSES, PICTURE_HEADERS, ConfirmIn
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.consent.pictures import event_snapshot
from consentcam.errors import NotFound, shown
from consentcam.events.staff import confirm_event
from consentcam.store.db import Store
from consentcam.store.models import Event

router = APIRouter()


@router.post("/events/{event_id}/confirm", responses=ERROR_RESPONSES)
def post_confirm(
    event_id: str,
    body: ConfirmIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("events:confirm"))],
) -> dict[str, Any]:
    """Door mode: staff confirm (or dismiss) a recognition before any action beyond a
    greeting; audited with the actor."""
    _check_event_in_scope(request.app.state.store, principal, event_id)
    return confirm_event(principal_ledger(request, principal), event_id, confirm=body.confirm)


@router.get(
    "/events/{event_id}/snapshot",
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
    _check_event_in_scope(request.app.state.store, principal, event_id)
    jpeg = event_snapshot(principal_ledger(request, principal), event_id)
    return Response(jpeg, media_type="image/jpeg", headers=PICTURE_HEADERS)


def _check_event_in_scope(store: Store, principal: Principal, event_id: str) -> None:
    """NotFound unless the event belongs to the caller's tenant and sites (the same answer as
    for an event that does not exist, so ids of other tenants reveal nothing)."""
    with store.transaction() as s:
        event = s.get(Event, event_id)
        if event is None or event.tenant_id != principal.tenant_id:
            raise NotFound(f"no event {shown(event_id)}")
        if not principal.covers(event.site_id):
            raise NotFound(f"no event {shown(event_id)}")
