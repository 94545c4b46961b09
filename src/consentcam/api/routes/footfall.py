"""Anonymous footfall: entries, exits and dwell per camera and hour."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from consentcam.api.queries import scoped_camera, scoped_site, site_cameras, visible_sites
from consentcam.api.schemas import (
    ERROR_RESPONSES,
    FootfallOut,
    FootfallRow,
    FootfallTotals,
    IsoDateTime,
    checked_time,
)
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.errors import InputError
from consentcam.pipeline.footfall import footfall_report
from consentcam.store.models import Camera, utcnow

router = APIRouter(tags=["footfall"], responses=ERROR_RESPONSES)
DEFAULT_PERIOD = dt.timedelta(days=1)
MAX_PERIOD = dt.timedelta(days=366)


@router.get("/footfall")
def get_footfall(
    request: Request,
    principal: Annotated[Principal, Depends(require("footfall:read"))],
    site: Annotated[
        str | None, Query(description="Site name; every site of yours if unset.")
    ] = None,
    camera: Annotated[str | None, Query(description="Camera id or name (name needs site).")] = None,
    since: Annotated[
        IsoDateTime | None,
        Query(description="Start (ISO 8601 with offset, years 2000-2199); until - 1 day."),
    ] = None,
    until: Annotated[
        IsoDateTime | None,
        Query(description="End, exclusive (ISO 8601 with offset, years 2000-2199); now."),
    ] = None,
) -> FootfallOut:
    """Hourly counts overlapping [since, until) for the chosen cameras, and their totals.
    A time without its UTC offset is refused (422) rather than read in some zone."""
    end = checked_time(until, "until") if until is not None else utcnow()
    start = checked_time(since, "since") if since is not None else end - DEFAULT_PERIOD
    if not start < end:
        raise InputError("since must be before until")
    if end - start > MAX_PERIOD:
        raise InputError(f"a footfall report covers at most {MAX_PERIOD.days} days")
    with principal_ledger(request, principal).store.transaction() as s:
        cameras = _cameras(s, principal, site, camera)
        by_id = {c.id: c for c in cameras}
        site_names = {x.id: x.name for x in visible_sites(s, principal)}
        report = footfall_report(s, list(by_id), start, end)
    rows = [
        FootfallRow(
            **r,
            camera=by_id[r["camera_id"]].name,
            site=site_names[by_id[r["camera_id"]].site_id],
        )
        for r in report
    ]
    return FootfallOut(since=start, until=end, rows=rows, totals=_totals(rows))


def _totals(rows: list[FootfallRow]) -> FootfallTotals:
    return FootfallTotals(
        entries=sum(r.entries for r in rows),
        exits=sum(r.exits for r in rows),
        visits=sum(r.visits for r in rows),
        dwell_seconds=sum(r.dwell_seconds for r in rows),
    )


def _cameras(
    s: Session, principal: Principal, site: str | None, camera: str | None
) -> list[Camera]:
    where = scoped_site(s, principal, site) if site else None
    if camera is not None:
        return [scoped_camera(s, principal, camera, where)]
    sites = [where] if where else visible_sites(s, principal)
    return [c for x in sites for c in site_cameras(s, x)]
