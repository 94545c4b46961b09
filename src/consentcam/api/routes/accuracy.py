"""The shop's accuracy from staff answers to door alerts, and the admin's audited answers to it:
a stricter threshold for the cameras, and the share of alerts staff may dismiss."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from consentcam.api.queries import scoped_site
from consentcam.api.schemas import ERROR_RESPONSES, AccuracyOut, DismissalBudgetIn, ThresholdIn
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.events.accuracy import (
    DEFAULT_DAYS,
    MAX_DAYS,
    set_dismissal_budget,
    set_threshold_override,
    site_accuracy,
)

router = APIRouter(tags=["calibration"], responses=ERROR_RESPONSES)
Writer = Annotated[Principal, Depends(require("sites:write"))]


@router.get("/sites/{site}/accuracy")
def get_accuracy(
    site: str,
    request: Request,
    principal: Annotated[Principal, Depends(require("calibration:read"))],
    days: Annotated[
        int, Query(ge=1, le=MAX_DAYS, description="Days to cover, up to now.")
    ] = DEFAULT_DAYS,
) -> AccuracyOut:
    """Door alerts and staff answers over the last ``days`` days: the dismissed share with its
    95% interval, per camera and week, distances, the dismissal budget and, when the site is
    over it with confidence, a proposed stricter threshold. Counts only: not audited."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        name = scoped_site(s, principal, site).name
    return AccuracyOut(**site_accuracy(ledger, name, days))


@router.put("/sites/{site}/accuracy/threshold")
def put_threshold(site: str, body: ThresholdIn, request: Request, principal: Writer) -> AccuracyOut:
    """Apply a stricter track threshold at the site's cameras (null: the model card's again);
    audited with the answers behind it. The site's workers decide at it within a second."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        name = scoped_site(s, principal, site).name
    return AccuracyOut(**set_threshold_override(ledger, name, body.threshold))


@router.put("/sites/{site}/accuracy/budget")
def put_dismissal_budget(
    site: str, body: DismissalBudgetIn, request: Request, principal: Writer
) -> AccuracyOut:
    """Set the share of door alerts staff may dismiss before the site is over budget (null: the
    default); audited."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        name = scoped_site(s, principal, site).name
    return AccuracyOut(**set_dismissal_budget(ledger, name, body.dismissal_budget))
