"""Setting a camera up: a preview frame with every face blurred, and its counting line.

Both are for owners and admins (``cameras:write``). The preview is blurred in the library
before it reaches this module (``pipeline.preview``), answered with ``Cache-Control: no-store``
and kept nowhere; each one is audited (``camera.preview``). A camera out of the caller's scope
answers exactly as one that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from consentcam.api.queries import scoped_camera, scoped_site
from consentcam.api.routes.sites import camera_out
from consentcam.api.schemas import ERROR_RESPONSES, CameraOut, LineIn
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.consent.sites import set_footfall_line
from consentcam.pipeline.preview import camera_preview
from consentcam.store.db import Store

router = APIRouter(tags=["cameras"], responses=ERROR_RESPONSES)


def _integer(description: str) -> dict[str, object]:
    return {"description": description, "schema": {"type": "integer"}}


SiteQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="The camera's site; needed when a camera name is used at several sites.",
    ),
]


@router.get(
    "/cameras/{camera}/preview",
    response_class=Response,
    responses={
        200: {
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The frame, every face found blurred.",
            "headers": {
                "Cache-Control": {"description": "no-store", "schema": {"type": "string"}},
                "X-Frame-Width": _integer("The camera frame's width in pixels."),
                "X-Frame-Height": _integer("The camera frame's height in pixels."),
                "X-Faces-Blurred": _integer("Regions blurred (faces found, and found again)."),
            },
        }
    },
)
def get_preview(
    camera: str,
    request: Request,
    principal: Annotated[Principal, Depends(require("cameras:write"))],
    site: SiteQuery = None,
) -> Response:
    """One current frame of the camera (id or name) as JPEG, with **every face found blurred
    before the image leaves the server**, for placing the camera and drawing its counting line.
    Kept in memory only (never stored, logged or cached: ``Cache-Control: no-store``) and
    audited as ``camera.preview``. ``X-Frame-Width`` and ``X-Frame-Height`` give the camera
    frame's own size, ``X-Faces-Blurred`` the regions blurred. A source that cannot be opened,
    or sends no frame within 10 s, answers 400 saying why."""
    camera_id = _camera_in_scope(request.app.state.store, principal, camera, site)
    preview = camera_preview(principal_ledger(request, principal), camera_id)
    return Response(
        preview.jpeg,
        media_type="image/jpeg",
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Width": str(preview.width),
            "X-Frame-Height": str(preview.height),
            "X-Faces-Blurred": str(preview.faces_blurred),
        },
    )


@router.put("/cameras/{camera}/line")
def put_line(
    camera: str,
    body: LineIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("cameras:write"))],
    site: SiteQuery = None,
) -> CameraOut:
    """Save the camera's footfall counting line (two points in fractions of the picture, 0-1),
    where ``consentcam camera add --line`` stores it; audited as ``camera.line``. The camera's
    worker counts with it from its next start. A point outside the picture, or points closer
    than 5% of it, answer 400 and change nothing."""
    camera_id = _camera_in_scope(request.app.state.store, principal, camera, site)
    row = set_footfall_line(
        principal_ledger(request, principal),
        camera_id,
        (body.start.x, body.start.y),
        (body.end.x, body.end.y),
    )
    return camera_out(row)


def _camera_in_scope(store: Store, principal: Principal, ref: str, site: str | None) -> str:
    """The id of camera ``ref`` in the caller's tenant and sites; NotFound otherwise, worded
    as for a camera (or site) that does not exist."""
    with store.transaction() as s:
        where = scoped_site(s, principal, site) if site is not None else None
        return scoped_camera(s, principal, ref, where).id
