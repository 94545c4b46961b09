"""Sites: list, add, the compliance summary of one site, and its consent notice."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from consentcam.api.queries import (
    enrolled_members,
    member_count,
    notice,
    require_tenant_wide,
    scoped_site,
    site_cameras,
    visible_sites,
)
from consentcam.api.schemas import (
    ERROR_RESPONSES,
    INVALID_REQUEST,
    CameraOut,
    FilingOut,
    NoticeOut,
    ProfileOut,
    SiteDetail,
    SiteIn,
    SiteOut,
    error_response,
)
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.consent.calibration import enrolled_people
from consentcam.consent.profiles import profile
from consentcam.consent.sites import add_site
from consentcam.errors import NotFound
from consentcam.match.calibration import filing_status
from consentcam.net import redacted_url
from consentcam.store.models import Camera, Site

router = APIRouter(tags=["sites"], responses=ERROR_RESPONSES)
# The notice behind a sign's QR code needs no login, so none of the login errors.
public_router = APIRouter(
    tags=["sites"],
    responses={404: error_response("No site with that id."), **INVALID_REQUEST},
)
Reader = Annotated[Principal, Depends(require("sites:read"))]


@router.get("/sites")
def list_sites(request: Request, principal: Reader) -> list[SiteOut]:
    """The sites the caller may see, by name."""
    with principal_ledger(request, principal).store.transaction() as s:
        return [site_out(site) for site in visible_sites(s, principal)]


@router.post("/sites", status_code=201)
def post_site(
    body: SiteIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("sites:write"))],
) -> SiteOut:
    """Add a site under a jurisdiction profile (a caller confined to some sites may not)."""
    require_tenant_wide(principal, "adding a site")
    return site_out(add_site(principal_ledger(request, principal), body.name, body.jurisdiction))


@router.get("/sites/{site}")
def get_site(site: str, request: Request, principal: Reader) -> SiteDetail:
    """A site's compliance summary: its profile's rules, each camera's mode and signage
    attestation, and how many of its members are enrolled."""
    with principal_ledger(request, principal).store.transaction() as s:
        row = scoped_site(s, principal, site)
        rules = profile(row.jurisdiction)
        filing = (
            FilingOut(**filing_status(enrolled_people(s, row.tenant_id), rules.filing_thresholds))
            if rules.filing_thresholds
            else None
        )
        return SiteDetail(
            site=site_out(row),
            profile=profile_out(row.jurisdiction),
            cameras=[camera_out(c) for c in site_cameras(s, row)],
            members=member_count(s, row),
            enrolled_members=enrolled_members(s, row),
            filing=filing,
        )


@router.get("/sites/{site}/notice")
def get_notice(
    site: str,
    request: Request,
    principal: Reader,
    version: Annotated[
        str, Query(pattern=r"^[A-Za-z0-9._-]{1,40}$", description="Notice version.")
    ] = "v1",
) -> NoticeOut:
    """The consent notice the kiosk shows for the site's profile, and the hash a consent
    records."""
    with principal_ledger(request, principal).store.transaction() as s:
        row = scoped_site(s, principal, site)
        text, sha256 = notice(s, row, version)
        return NoticeOut(
            site=row.name, jurisdiction=row.jurisdiction, version=version, text=text, sha256=sha256
        )


@public_router.get("/public/sites/{site_id}/notice")
def get_public_notice(
    site_id: str,
    request: Request,
    version: Annotated[
        str, Query(pattern=r"^[A-Za-z0-9._-]{1,40}$", description="Notice version.")
    ] = "v1",
) -> NoticeOut:
    """The site's consent notice for anyone, without a login: the page a sign's QR code opens
    (signs must point to the full notice). Addressed by the site's random id, which the sign
    carries, so it reveals no list of sites; the notice itself is public by law."""
    with request.app.state.store.transaction() as s:
        row = s.get(Site, site_id)
        if row is None:
            raise NotFound(f"no site {site_id!r}")
        text, sha256 = notice(s, row, version)
        return NoticeOut(
            site=row.name, jurisdiction=row.jurisdiction, version=version, text=text, sha256=sha256
        )


def site_out(site: Site) -> SiteOut:
    return SiteOut(
        id=site.id, name=site.name, jurisdiction=site.jurisdiction, created_at=site.created_at
    )


def profile_out(code: str) -> ProfileOut:
    rules = profile(code)
    return ProfileOut(
        code=rules.code,
        name=rules.name,
        allowed_modes=sorted(rules.allowed_modes),
        separate_biometric_consent=rules.separate_biometric_consent,
        written_release=rules.written_release,
        guardian_under=rules.guardian_under,
        template_inactivity_days=rules.template_inactivity_days,
        event_retention_days=rules.event_retention_days,
        footfall_retention_days=rules.footfall_retention_days,
        filing_thresholds=list(rules.filing_thresholds),
        signage=rules.signage,
        source=rules.source,
    )


def camera_out(camera: Camera) -> CameraOut:
    config = camera.config or {}
    line = config.get("footfall_line")
    return CameraOut(
        id=camera.id,
        name=camera.name,
        mode=camera.mode,
        signage_attested=camera.signage_attested,
        source=redacted_url(camera.source),
        line=[float(v) for v in line] if line is not None else None,
        detect_scale=config.get("detect_scale"),
        created_at=camera.created_at,
    )
