"""Per-site calibration: the threshold in force and the false alerts it means."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from consentcam.api.queries import scoped_site
from consentcam.api.schemas import ERROR_RESPONSES, BudgetIn, CalibrationOut
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.consent.calibration import set_false_alert_budget
from consentcam.events.accuracy import calibration_with_accuracy

router = APIRouter(tags=["calibration"], responses=ERROR_RESPONSES)


@router.get("/sites/{site}/calibration")
def get_calibration(
    site: str,
    request: Request,
    principal: Annotated[Principal, Depends(require("calibration:read"))],
    target_fpir: Annotated[
        float | None,
        Query(gt=0, lt=1, description="Target false-alert rate; the model card's if unset."),
    ] = None,
) -> CalibrationOut:
    """The site's calibration report at its current gallery size, with what staff answers to
    door alerts say of it."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        name = scoped_site(s, principal, site).name
    return CalibrationOut(**calibration_with_accuracy(ledger, name, target_fpir))


@router.put("/sites/{site}/calibration")
def put_calibration(
    site: str,
    body: BudgetIn,
    request: Request,
    principal: Annotated[Principal, Depends(require("sites:write"))],
) -> CalibrationOut:
    """Choose the site's false-alert budget (the cameras' operating point); audited. The
    site's workers use the new threshold within a second."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        name = scoped_site(s, principal, site).name
    set_false_alert_budget(ledger, name, body.false_alerts_per_1000)
    return CalibrationOut(**calibration_with_accuracy(ledger, name))
