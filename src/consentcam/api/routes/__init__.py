"""The API's routers, one module per area, mounted under /api/v1 by ``create_app``."""

from __future__ import annotations

from fastapi import APIRouter

from consentcam.api.routes import (
    accuracy,
    audit,
    calibration,
    cameras,
    consents,
    enrolment,
    events,
    footfall,
    members,
    purchases,
    retention,
    rights,
    signage,
    sites,
    tenant,
    webhooks,
)

ROUTERS: list[APIRouter] = [
    tenant.router,
    sites.router,
    sites.public_router,
    cameras.router,
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
]
