"""Cameras of a site: list with each camera's health, add, change and remove (face modes only
with signage and a profile that allows them; sources only from the operator's camera networks,
webcams, and local files only where the operator allows them: ``consent/camera_sources.py``; the
library refuses the rest, and a refused change leaves the camera as it was)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from consentcam.api.queries import scoped_camera, scoped_site, site_cameras
from consentcam.api.routes.sites import camera_out
from consentcam.api.schemas import (
    ERROR_RESPONSES,
    CameraHealthOut,
    CameraIn,
    CameraOut,
    CameraPatch,
    CameraRemovedOut,
)
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.consent.health import CameraHealth, cameras_health
from consentcam.consent.sites import add_camera, remove_camera, update_camera

router = APIRouter(tags=["cameras"], responses=ERROR_RESPONSES)
Writer = Annotated[Principal, Depends(require("cameras:write"))]


@router.get("/sites/{site}/cameras")
def list_cameras(
    site: str, request: Request, principal: Annotated[Principal, Depends(require("sites:read"))]
) -> list[CameraOut]:
    """The site's cameras by name, with mode, signage attestation, source (without
    credentials) and health: online while its worker's heartbeat and last frame are fresher
    than the staleness limit, offline otherwise (the reason in words), "never seen" before any
    heartbeat."""
    ledger = principal_ledger(request, principal)
    stale_s = ledger.settings.pipeline.stale_after_s
    with ledger.store.transaction() as s:
        row = scoped_site(s, principal, site)
        cameras = site_cameras(s, row)
        health = cameras_health(s, cameras, {row.id: row.name}, stale_s)
        return [
            camera_out(c).model_copy(update={"health": health_out(h, stale_s)})
            for c, h in zip(cameras, health, strict=True)
        ]


@router.post("/sites/{site}/cameras", status_code=201)
def post_camera(site: str, body: CameraIn, request: Request, principal: Writer) -> CameraOut:
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


@router.patch("/sites/{site}/cameras/{camera}")
def patch_camera(
    site: str, camera: str, body: CameraPatch, request: Request, principal: Writer
) -> CameraOut:
    """Change a camera's mode, source, signage attestation, counting line or detection scale
    (only the fields sent; ``line`` or ``detect_scale`` null: back to the site's default), under
    the rules of adding one: the new mode and attestation must be lawful under the site's
    profile, the source must pass the source rule. A refused change answers 4xx naming the rule
    and changes nothing; the change is audited. A running worker takes it at its next start."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        row = scoped_site(s, principal, site)
        camera_id = scoped_camera(s, principal, camera, row).id
        site_name = row.name
    sent = body.model_fields_set
    config: dict[str, Any | None] = {}
    if "line" in sent:
        config["footfall_line"] = list(body.line) if body.line is not None else None
    if "detect_scale" in sent:
        config["detect_scale"] = body.detect_scale
    changed = update_camera(
        ledger,
        site_name,
        camera_id,
        mode=body.mode,
        source=body.source,
        signage_attested=body.signage_attested,
        config=config,
        over_api=True,
    )
    return camera_out(changed)


@router.delete("/sites/{site}/cameras/{camera}")
def delete_camera(site: str, camera: str, request: Request, principal: Writer) -> CameraRemovedOut:
    """Remove a camera (audited): its footfall counts, open claims and health go with it; its
    events stay in the site's history without the camera."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        row = scoped_site(s, principal, site)
        camera_id = scoped_camera(s, principal, camera, row).id
        site_name = row.name
    return CameraRemovedOut(**remove_camera(ledger, site_name, camera_id))


def health_out(health: CameraHealth, stale_after_s: float) -> CameraHealthOut:
    return CameraHealthOut(
        state=health.state,
        reason=health.reason,
        fps=health.fps,
        frames=health.frames,
        dropped=health.dropped,
        reconnects=health.reconnects,
        restarts=health.restarts,
        last_frame_at=health.last_frame_at,
        last_error=health.last_error,
        error_at=health.error_at,
        heartbeat_at=health.heartbeat_at,
        stale_after_s=stale_after_s,
    )
