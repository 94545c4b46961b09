"""Webhooks: signed event notifications to the staff's own systems.

A webhook for one site is managed by anyone whose scope covers the site; one for every site
only by a caller whose scope is the whole tenant (it would receive every site's events).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from consentcam.api.queries import (
    require_tenant_wide,
    scoped_site,
    scoped_webhook,
    visible_webhook_ids,
)
from consentcam.api.schemas import ERROR_RESPONSES, WebhookCreated, WebhookIn, WebhookOut
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.events.webhooks import WebhookInfo, add_webhook, list_webhooks, remove_webhook

router = APIRouter(tags=["webhooks"], responses=ERROR_RESPONSES)
Manager = Annotated[Principal, Depends(require("webhooks:write"))]


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


def webhook_out(info: WebhookInfo) -> WebhookOut:
    return WebhookOut(
        id=info.id,
        url=info.url,
        site=info.site,
        active=info.active,
        created_at=info.created_at,
        deliveries=info.deliveries,
    )
