"""Data-subject rights: withdrawal (erasure of every template, with a receipt), the export of
everything held about a member, rectification of their record and erasure of all of it. Each
is audited by the library with the caller as actor."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from consentcam.api.queries import scoped_member
from consentcam.api.schemas import (
    ERROR_RESPONSES,
    ErasureOut,
    ExportOut,
    MemberOut,
    MemberRectifyIn,
    ReceiptOut,
)
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.consent.members import rectify_member
from consentcam.consent.rights import erase_member, export_member, withdraw
from consentcam.store.models import Site

router = APIRouter(tags=["data-subject rights"], responses=ERROR_RESPONSES)


@router.post("/members/{member_id}/withdraw", response_model=ReceiptOut)
def post_withdrawal(
    member_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require("withdraw"))],
    purpose: Annotated[
        Literal["recognition", "portrait"] | None,
        Query(description="Only this purpose (portrait: the pictures staff are shown)."),
    ] = None,
) -> BaseModel:
    """Withdraw every consent of the member (or only ``purpose``) and delete their templates
    and pictures; returns the deletion receipt (workers drop the member from their galleries
    within seconds)."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        scoped_member(s, principal, member_id)
    return ReceiptOut.model_validate(withdraw(ledger, member_id, purpose), from_attributes=True)


@router.get("/members/{member_id}/export", response_model=ExportOut)
def get_export(
    member_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require("export"))],
) -> BaseModel:
    """Everything held about the member (profile, consents, template metadata, purchases);
    never a template itself."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        scoped_member(s, principal, member_id)
    return ExportOut.model_validate(export_member(ledger, member_id), from_attributes=True)


@router.patch("/members/{member_id}")
def patch_member(
    member_id: str,
    body: MemberRectifyIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("rectify"))],
) -> MemberOut:
    """Correct the member's name or replace their profile (rectification); the audit entry
    names the fields changed, never their values."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        site = s.get(Site, scoped_member(s, principal, member_id).site_id)
        assert site is not None
    profile = None if body.profile is None else dict(body.profile)
    member = rectify_member(ledger, member_id, name=body.name, profile_fields=profile)
    return MemberOut(id=member.id, site=site.name, name=member.name, created_at=member.created_at)


@router.post("/members/{member_id}/erase", response_model=ErasureOut)
def post_erasure(
    member_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require("erase"))],
) -> BaseModel:
    """Erase everything held about the member: consents (withdrawn first, so workers drop them
    within seconds), templates, purchases, claims, the events naming them and the member record.
    The audit log keeps what was done, naming the member by id only. Returns the receipt."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        scoped_member(s, principal, member_id)
    return ErasureOut.model_validate(erase_member(ledger, member_id), from_attributes=True)
