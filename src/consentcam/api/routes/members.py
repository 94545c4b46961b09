"""Members: the member list of a site, adding a member, and the member card staff see.

Reading a member card is reading a member's profile, so each read is audited with the caller as
actor (privacy invariant 5), in the transaction that reads it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from consentcam.api.queries import (
    consent_statuses,
    scoped_member,
    scoped_site,
    site_members,
    template_counts,
)
from consentcam.api.schemas import (
    ERROR_RESPONSES,
    OFFSET_END,
    PICTURE_HEADERS,
    MemberCard,
    MemberIn,
    MemberOut,
    MemberPage,
    MemberRow,
    PurchaseSummaryOut,
)
from consentcam.api.security import principal_ledger, require
from consentcam.audit import chain
from consentcam.auth.roles import Principal
from consentcam.consent.members import add_member
from consentcam.consent.pictures import has_portrait, member_portrait, picture_links
from consentcam.consent.purchases import purchase_summary
from consentcam.consent.visits import VISIT
from consentcam.events.accuracy import refresh_prompt
from consentcam.store.models import Site, utcnow

router = APIRouter(tags=["members"], responses=ERROR_RESPONSES)
Reader = Annotated[Principal, Depends(require("members:read"))]


@router.get("/sites/{site}/members")
def list_members(
    site: str,
    request: Request,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, lt=OFFSET_END, description="Members to skip.")] = 0,
) -> MemberPage:
    """Members at home at the site, oldest first, with consent status and template count.
    Each page read is audited (``member.list``: site, offset and count, never the names), so
    a token paging through a site's members leaves a trace."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        home = scoped_site(s, principal, site)
        members, total = site_members(s, home, limit, offset)
        statuses = consent_statuses(s, members, utcnow())
        templates = template_counts(s, [m.id for m in members])
        items = [
            MemberRow(
                id=m.id,
                name=m.name,
                consent=statuses[m.id][0],
                consent_expires_at=statuses[m.id][1],
                templates=templates[m.id],
                created_at=m.created_at,
            )
            for m in members
        ]
        chain.append(
            s,
            actor=ledger.actor,
            action="member.list",
            details={"site": home.name, "offset": offset, "count": len(items)},
            tenant_id=home.tenant_id,
        )
    return MemberPage(items=items, total=total, limit=limit, offset=offset)


@router.post("/members", status_code=201)
def post_member(
    body: MemberIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("members:write"))],
) -> MemberOut:
    """Add a member at a site (no consent yet: nothing about their face exists)."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        site = scoped_site(s, principal, body.site).name
    member = add_member(ledger, site, body.name, dict(body.profile))
    return MemberOut(id=member.id, site=site, name=member.name, created_at=member.created_at)


@router.get("/members/{member_id}")
def get_member(member_id: str, request: Request, principal: Reader) -> MemberCard:
    """The member card: profile, consent status and purchase-history summary. Audited as a
    profile read (``member.view``) with the caller as actor."""
    ledger = principal_ledger(request, principal)
    now = utcnow()
    with ledger.store.transaction() as s:
        member = scoped_member(s, principal, member_id)
        site = s.get(Site, member.site_id)
        assert site is not None
        status, expires = consent_statuses(s, [member], now)[member.id]
        prompt = refresh_prompt(s, member)
        card = MemberCard(
            id=member.id,
            name=member.name,
            site=site.name,
            profile=dict(member.profile),
            consent=status,
            consent_expires_at=expires,
            templates=template_counts(s, [member.id])[member.id],
            visit_templates=template_counts(s, [member.id], VISIT)[member.id],
            portrait=picture_links(
                member.id, None, portrait=has_portrait(s, member.id), snapshot=False
            )["portrait"],
            created_at=member.created_at,
            last_interaction_at=member.last_interaction_at,
            purchases=PurchaseSummaryOut(**purchase_summary(s, member.id, now)),
            refresh_photos=prompt is not None,
            refresh_photos_reason=None if prompt is None else prompt.text,
        )
        chain.append(
            s,
            actor=ledger.actor,
            action="member.view",
            subject=member.id,
            details={"site": site.name},
            tenant_id=member.tenant_id,
        )
    return card


@router.get(
    "/members/{member_id}/portrait",
    responses={200: {"content": {"image/jpeg": {}}}},
    response_class=Response,
)
def get_portrait(member_id: str, request: Request, principal: Reader) -> Response:
    """The member's reference portrait (JPEG), shown to staff beside a door snapshot so they can
    check an alert; only where the member consented to it (404 otherwise). Every view is
    audited (``portrait.view``) with the caller as actor."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        scoped_member(s, principal, member_id)
    return Response(
        member_portrait(ledger, member_id), media_type="image/jpeg", headers=PICTURE_HEADERS
    )
