"""The retention job on demand (it also runs on its schedule)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from consentcam.api.queries import require_tenant_wide
from consentcam.api.schemas import ERROR_RESPONSES, PurgeOut
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.consent.retention import purge

router = APIRouter(tags=["retention"], responses=ERROR_RESPONSES)
# Owner only: PERMISSIONS has no retention permission, and only the owner holds users:write.
OWNER_ONLY = "users:write"


@router.post("/purge")
def post_purge(
    request: Request, principal: Annotated[Principal, Depends(require(OWNER_ONLY))]
) -> PurgeOut:
    """Delete what the jurisdiction profiles say may no longer be kept: templates of withdrawn
    or expired consents and of inactive members, old events and footfall. Idempotent."""
    require_tenant_wide(principal, "the retention job")
    return PurgeOut.model_validate(purge(principal_ledger(request, principal)))
