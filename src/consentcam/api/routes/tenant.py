"""The caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from consentcam.api.queries import visible_sites
from consentcam.api.schemas import ERROR_RESPONSES, TenantOut
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal

router = APIRouter(tags=["tenant"], responses=ERROR_RESPONSES)


@router.get("/tenant")
def get_tenant(
    request: Request, principal: Annotated[Principal, Depends(require("tenant:read"))]
) -> TenantOut:
    """The caller's tenant and how many of its sites the caller may see."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        return TenantOut(name=principal.tenant, sites=len(visible_sites(s, principal)))
