"""Who may call what: authentication of a request and the dependencies routes declare.

Routes declare ``principal: Annotated[Principal, Depends(require("members:read"))]`` and build
their ledger with ``principal_ledger(request, principal)``, which confines every library call to the
caller's tenant and names the caller in the audit log; ``check_site`` confines a site-scoped
user or token to its sites (an out-of-scope site is reported as not found, like another
tenant's, so the API does not reveal what exists). Tests may override ``current_principal``
through FastAPI's ``dependency_overrides``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from consentcam.auth.roles import Principal
from consentcam.consent.ledger import Ledger, store_keys
from consentcam.errors import NotFound


def current_principal(request: Request) -> Principal:
    """The authenticated caller (a Bearer API token, or a session cookie with its CSRF header
    on unsafe methods); 401 otherwise."""
    raise HTTPException(status_code=401, detail="authentication required")


def require(permission: str) -> Callable[..., Principal]:
    """A dependency: the caller, if their role grants ``permission``; 403 otherwise."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.may(permission):
            raise HTTPException(
                status_code=403, detail=f"role {principal.role!r} may not {permission}"
            )
        return principal

    return dependency


def principal_ledger(request: Request, principal: Principal) -> Ledger:
    """The ledger for this caller: their tenant, their name in the audit log."""
    state = request.app.state
    return Ledger(
        state.store, store_keys(state.settings), principal.actor, state.settings, principal.tenant
    )


def check_site(principal: Principal, site_id: str, what: str = "site") -> None:
    """NotFound (404) unless the caller's scope covers ``site_id``."""
    if not principal.covers(site_id):
        raise NotFound(f"no {what} {site_id!r}")
