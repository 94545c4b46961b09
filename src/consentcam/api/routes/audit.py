"""The audit log: the caller's tenant's entries, and verification of the hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from consentcam.api.queries import audit_page, require_tenant_wide
from consentcam.api.schemas import (
    ERROR_RESPONSES,
    SEQ_END,
    AuditAnchor,
    AuditAnchorsIn,
    AuditEntryOut,
    AuditPage,
    AuditVerifyOut,
)
from consentcam.api.security import principal_ledger, require
from consentcam.audit import chain
from consentcam.auth.roles import Principal

router = APIRouter(tags=["audit"], responses=ERROR_RESPONSES)
Auditor = Annotated[Principal, Depends(require("audit:read"))]


@router.get("/audit")
def list_audit(
    request: Request,
    principal: Auditor,
    after_seq: Annotated[int, Query(ge=0, lt=SEQ_END, description="Entries after this seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most entries returned.")] = 100,
) -> AuditPage:
    """The tenant's audit entries in chain order (the log spans the tenant, so a caller confined
    to some sites may not read it)."""
    require_tenant_wide(principal, "the audit log")
    with principal_ledger(request, principal).store.transaction() as s:
        entries = [
            AuditEntryOut(
                seq=e.seq,
                at=e.at,
                actor=e.actor,
                action=e.action,
                subject=e.subject,
                details=e.details,
                prev_hash=e.prev_hash,
                hash=e.hash,
            )
            for e in audit_page(s, principal.tenant_id, after_seq, limit)
        ]
    return AuditPage(entries=entries, next_after_seq=entries[-1].seq if entries else None)


@router.get("/audit/verify")
def get_audit_verification(request: Request, principal: Auditor) -> AuditVerifyOut:
    """Walk the whole hash chain and report the first of the tenant's entries that does not
    fit, or that follows a break; ``entries`` counts the tenant's entries."""
    return _verification(request, principal, [])


@router.post("/audit/verify")
def post_audit_verification(
    body: AuditAnchorsIn, request: Request, principal: Auditor
) -> AuditVerifyOut:
    """Walk the whole hash chain, then check that it still holds every anchor given: an
    anchored entry gone or changed means the log was cut back or rewritten since."""
    anchors = [
        chain.Anchor(a.seq, a.hash, a.at.isoformat() if a.at else None) for a in body.anchors
    ]
    return _verification(request, principal, anchors)


@router.get("/audit/anchor")
def get_audit_anchor(request: Request, principal: Auditor) -> AuditAnchor:
    """The tenant's latest audit entry (its hash covers the chain up to it). Kept where whoever
    can write the database cannot change it (a write-once log, a ticket), it lets a later
    verification detect a rewritten or cut log. Other tenants' later entries do not show."""
    require_tenant_wide(principal, "anchoring the audit log")
    with principal_ledger(request, principal).store.transaction() as s:
        head = chain.anchor(s, tenant_id=principal.tenant_id)
    return AuditAnchor(seq=head.seq, hash=head.hash, at=head.at)


def _verification(
    request: Request, principal: Principal, anchors: list[chain.Anchor]
) -> AuditVerifyOut:
    require_tenant_wide(principal, "verifying the audit log")
    with principal_ledger(request, principal).store.transaction() as s:
        # The tenant's view: its own entries counted and named, no other tenant's.
        result = chain.verify(s, anchors, tenant_id=principal.tenant_id)
    return AuditVerifyOut(
        ok=result.ok,
        entries=result.entries,
        first_bad_seq=result.first_bad_seq,
        reason=result.reason,
    )
