"""The API's routers, one module per area, mounted by ``create_app``: ``health`` at the root,
the others under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from consentcam.api.routes import (
    accuracy,
    audit,
    calibration,
    camera_setup,
    cameras,
    claims,
    consents,
    door,
    enrolment,
    events,
    footfall,
    members,
    purchases,
    retention,
    rights,
    signage,
    sites,
    stream,
    tenant,
    tokens,
    users,
    webhooks,
)

# Mounted first (the order of the OpenAPI document). Outside ROUTERS, whose authorisation matrix
# (tests/api/test_routes_matrix.py) calls every route and would wait on the endless stream; these
# have tests of their own.
LIVE_ROUTERS: list[APIRouter] = [stream.router, claims.router, door.router]
ROUTERS: list[APIRouter] = [
    tenant.router,
    sites.router,
    sites.public_router,
    cameras.router,
    camera_setup.router,
    members.router,
    consents.router,
    enrolment.router,
    rights.router,
    purchases.router,
    events.router,
    footfall.router,
    calibration.router,
    accuracy.router,
    audit.router,
    webhooks.router,
    retention.router,
    signage.router,
    users.router,
    tokens.router,
]
