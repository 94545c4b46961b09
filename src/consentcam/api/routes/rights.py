"""Data-subject rights: withdrawal (erasure of every template, with a receipt) and the export
of everything held about a member. Both are audited by the library with the caller as actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from consentcam.api.queries import scoped_member
from consentcam.api.schemas import ERROR_RESPONSES, ExportOut, ReceiptOut
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.consent.ledger import export_member, withdraw

router = APIRouter(tags=["data-subject rights"], responses=ERROR_RESPONSES)


@router.post("/members/{member_id}/withdraw")
def post_withdrawal(
    member_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require("withdraw"))],
) -> ReceiptOut:
    """Withdraw every consent of the member and delete their templates; returns the deletion
    receipt (workers drop the member from their galleries within seconds)."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        scoped_member(s, principal, member_id)
    return ReceiptOut(**withdraw(ledger, member_id))


@router.get("/members/{member_id}/export")
def get_export(
    member_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require("export"))],
) -> ExportOut:
    """Everything held about the member (profile, consents, template metadata, purchases);
    never a template itself."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        scoped_member(s, principal, member_id)
    return ExportOut.model_validate(export_member(ledger, member_id))
