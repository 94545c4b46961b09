"""Cameras of a site: list and add (face modes only with signage and a profile that allows
them; sources only from the operator's camera networks, webcams, and local files only where the
operator allows them: ``consent/camera_sources.py``; the library refuses the rest)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from consentcam.api.queries import scoped_site, site_cameras
from consentcam.api.routes.sites import camera_out
from consentcam.api.schemas import ERROR_RESPONSES, CameraIn, CameraOut
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.consent.sites import add_camera

router = APIRouter(tags=["cameras"], responses=ERROR_RESPONSES)


@router.get("/sites/{site}/cameras")
def list_cameras(
    site: str, request: Request, principal: Annotated[Principal, Depends(require("sites:read"))]
) -> list[CameraOut]:
    """The site's cameras by name, with mode and signage attestation (sources without
    credentials)."""
    with principal_ledger(request, principal).store.transaction() as s:
        return [camera_out(c) for c in site_cameras(s, scoped_site(s, principal, site))]


@router.post("/sites/{site}/cameras", status_code=201)
def post_camera(
    site: str,
    body: CameraIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("cameras:write"))],
) -> CameraOut:
    """Add a camera; a face mode needs ``signage_attested`` and a profile that allows it. The
    source must be an rtsp(s):// or http(s):// stream on the operator's camera networks or a
    webcam (/dev/videoN); a local file only where the operator allows it. Stream URLs are
    stored sealed and shown as scheme://host[:port]/… only."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        name = scoped_site(s, principal, site).name
    config: dict[str, Any] = {}
    if body.line is not None:
        config["footfall_line"] = list(body.line)
    if body.detect_scale is not None:
        config["detect_scale"] = body.detect_scale
    camera = add_camera(
        ledger,
        name,
        body.name,
        body.source,
        body.mode,
        body.signage_attested,
        config,
        over_api=True,
    )
    return camera_out(camera)
