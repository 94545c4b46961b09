"""Verify-mode claims: ``POST /claims`` (a kiosk's QR scan names the member at a camera)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from consentcam.api.queries import scoped_camera, scoped_site
from consentcam.api.schemas import ERROR_RESPONSES, ClaimIn
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.events.claims import claim_document, open_claim
from consentcam.store.db import Store

router = APIRouter()


@router.post("/claims", status_code=201, responses=ERROR_RESPONSES)
def post_claim(
    body: ClaimIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("claims:write"))],
) -> dict[str, str | None]:
    """Verify mode: a member claims to stand at a camera (a kiosk's QR scan); the camera
    then checks that one member and the claim expires after ``ttl_s``. ``refresh_photos``
    says, in words, when the kiosk should offer the member new photos (their recent
    confirmed visits matched close to the threshold); null otherwise."""
    camera_id = _camera_in_scope(request.app.state.store, principal, body.camera, body.site)
    ledger = principal_ledger(request, principal)
    claim = open_claim(ledger, camera_id, body.member_id, ttl_s=body.ttl_s)
    return claim_document(ledger, claim)


def _camera_in_scope(store: Store, principal: Principal, ref: str, site: str | None) -> str:
    """The id of camera ``ref`` in the caller's tenant and sites; NotFound otherwise, worded
    as for a camera (or site) that does not exist."""
    with store.transaction() as s:
        where = scoped_site(s, principal, site) if site is not None else None
        return scoped_camera(s, principal, ref, where).id
