"""API and kiosk tokens, managed from the dashboard's People & access tab: list (never a
secret), issue (the token in that answer only), revoke.

Owners and admins only (``access:write``), with the whole tenant in scope, and only for users
they may manage (``auth.users.check_may_manage``). A token's role and sites are at most its
user's (``auth.tokens``); a kiosk token is a token with the ``kiosk`` role. Each issue and
revocation is audited by the library with the caller as actor.
"""

from __future__ import annotations

from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends, Request

from consentcam.api.schemas import ERROR_RESPONSES, Role, TokenCreated, TokenIn, TokenOut
from consentcam.api.security import principal_ledger, require
from consentcam.auth.roles import Principal
from consentcam.auth.tokens import TokenInfo, issue_token, list_tokens, revoke_token
from consentcam.auth.users import MANAGE
from consentcam.store.models import utcnow

router = APIRouter(tags=["tokens"], responses=ERROR_RESPONSES)
Manager = Annotated[Principal, Depends(require(MANAGE))]
State = Literal["active", "expired", "revoked"]


@router.get("/tokens")
def get_tokens(request: Request, principal: Manager) -> list[TokenOut]:
    """The tenant's tokens, newest first: user, label, role, sites, state; never the secret."""
    ledger = principal_ledger(request, principal)
    return [token_out(t) for t in list_tokens(ledger, by=principal)]


@router.post("/tokens", status_code=201)
def post_token(body: TokenIn, request: Request, principal: Manager) -> TokenCreated:
    """Issue a token for a user; the answer holds the token, shown this once and never again."""
    ledger = principal_ledger(request, principal)
    issued = issue_token(
        ledger,
        body.user,
        body.label,
        role=body.role,
        site_names=body.sites,
        days=body.days,
        by=principal,
    )
    [info] = [t for t in list_tokens(ledger, by=principal) if t.id == issued.id]
    return TokenCreated(**token_out(info).model_dump(), token=issued.token)


@router.post("/tokens/{token_id}/revoke")
def post_revoke(token_id: str, request: Request, principal: Manager) -> TokenOut:
    """Revoke a token (by id or prefix): it stops working at once and stays listed."""
    ledger = principal_ledger(request, principal)
    revoked = revoke_token(ledger, token_id, by=principal)
    [info] = [t for t in list_tokens(ledger, by=principal) if t.id == revoked.id]
    return token_out(info)


def token_out(info: TokenInfo) -> TokenOut:
    return TokenOut(
        id=info.id,
        prefix=info.prefix,
        user=info.user,
        label=info.label,
        role=cast(Role, info.role),  # one of auth.roles.ROLES, which Role spells out
        sites=info.sites,
        state=cast(State, info.state(utcnow())),
        created_at=info.created_at,
        expires_at=info.expires_at,
        last_used_at=info.last_used_at,
        revoked_at=info.revoked_at,
    )
