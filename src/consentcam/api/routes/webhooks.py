"""Webhooks: signed event notifications to the staff's own systems.

A webhook for one site is managed by anyone whose scope covers the site; one for every site
only by a caller whose scope is the whole tenant (it would receive every site's events).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from consentcam.api.queries import (
    require_tenant_wide,
    scoped_site,
    scoped_webhook,
    visible_webhook_ids,
)
from consentcam.api.schemas import (
    ERROR_RESPONSES,
    TOO_MANY_REQUESTS,
    DeliveryOut,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookTestOut,
)
from consentcam.api.security import principal_ledger, rate_limited, require
from consentcam.auth.roles import Principal
from consentcam.events.destinations import webhook_client
from consentcam.events.webhooks import (
    WebhookInfo,
    add_webhook,
    list_deliveries,
    list_webhooks,
    remove_webhook,
    send_test,
)

router = APIRouter(tags=["webhooks"], responses=ERROR_RESPONSES)
Manager = Annotated[Principal, Depends(require("webhooks:write"))]
# Each test makes this server send a request: a few a minute per caller are plenty for setting
# a receiver up, and keep the route from being used to hammer one.
TESTS_PER_MINUTE = 6


@router.get("/webhooks")
def get_webhooks(request: Request, principal: Manager) -> list[WebhookOut]:
    """The webhooks the caller may manage, with delivery counts per status."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        mine = visible_webhook_ids(s, principal)
    return [webhook_out(w) for w in list_webhooks(ledger) if w.id in mine]


@router.post("/webhooks", status_code=201)
def post_webhook(body: WebhookIn, request: Request, principal: Manager) -> WebhookCreated:
    """Register an endpoint; the response holds its signing secret, shown only this once."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        if body.site is None:
            require_tenant_wide(principal, "a webhook for every site")
            site = None
        else:
            site = scoped_site(s, principal, body.site).name
    webhook, secret = add_webhook(ledger, body.url, site)
    return WebhookCreated(
        id=webhook.id,
        url=webhook.url,
        site=site,
        active=webhook.active,
        created_at=webhook.created_at,
        deliveries={"pending": 0, "delivered": 0, "failed": 0},
        secret=secret,
    )


@router.delete("/webhooks/{webhook_id}")
def delete_webhook(webhook_id: str, request: Request, principal: Manager) -> WebhookOut:
    """Remove a webhook and its pending deliveries; returns what was removed."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        scoped_webhook(s, principal, webhook_id)
    return webhook_out(remove_webhook(ledger, webhook_id))


@router.post(
    "/webhooks/{webhook_id}/test",
    responses=TOO_MANY_REQUESTS,
    dependencies=[Depends(rate_limited("webhook-test", per_minute=TESTS_PER_MINUTE))],
)
def post_webhook_test(webhook_id: str, request: Request, principal: Manager) -> WebhookTestOut:
    """Send a signed test event (kind ``webhook.test``, seq 0, no member) to the webhook now,
    through the delivery code and the address policy, and return what the receiver answered,
    or why nothing came back. Not retried, not listed among the deliveries; audited."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        scoped_webhook(s, principal, webhook_id)
    with webhook_client(ledger.settings) as client:
        result = send_test(ledger, webhook_id, client)
    return WebhookTestOut(**result.as_dict())


@router.get("/webhooks/{webhook_id}/deliveries")
def get_deliveries(
    webhook_id: str,
    request: Request,
    principal: Manager,
    failures: Annotated[
        bool, Query(description="Only deliveries whose last attempt failed (for good or retrying).")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=100, description="How many, newest first.")] = 20,
) -> list[DeliveryOut]:
    """The webhook's latest deliveries, newest event first, with each one's status, attempts
    and last reason (in words too)."""
    ledger = principal_ledger(request, principal)
    with ledger.store.transaction() as s:
        scoped_webhook(s, principal, webhook_id)
    rows = list_deliveries(ledger, webhook_id, failures=failures, limit=limit)
    return [DeliveryOut.model_validate(row, from_attributes=True) for row in rows]


def webhook_out(info: WebhookInfo) -> WebhookOut:
    return WebhookOut(
        id=info.id,
        url=info.url,
        site=info.site,
        active=info.active,
        created_at=info.created_at,
        deliveries=info.deliveries,
    )
