"""Users of the tenant, managed from the dashboard's People & access tab: list, add (with a
one-time password), change role and sites, reset the password, disable, enable, remove.

Owners and admins only (``access:write``), with the whole tenant in scope; an admin never acts
on an owner nor makes one (``auth.roles.may_grant``), and a tenant's last active owner stays
one. The rules live in ``consentcam.auth.users``; each change is audited there with the caller
as actor. Users are addressed by id: a user of another tenant answers as a missing one.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Request

from consentcam.api.schemas import (
    ERROR_RESPONSES,
    PasswordResetOut,
    Role,
    UserChangeIn,
    UserCreated,
    UserIn,
    UserOut,
)
from consentcam.api.security import principal_ledger, require
from consentcam.auth.passwords import generate_password
from consentcam.auth.roles import Principal
from consentcam.auth.users import (
    KEEP,
    MANAGE,
    UserInfo,
    add_user,
    change_user,
    check_manager,
    disable_user,
    enable_user,
    get_user,
    list_users,
    remove_user,
    reset_password,
    user_name_by_id,
)
from consentcam.consent.context import Ledger

router = APIRouter(tags=["users"], responses=ERROR_RESPONSES)
Manager = Annotated[Principal, Depends(require(MANAGE))]


@router.get("/users")
def get_users(request: Request, principal: Manager) -> list[UserOut]:
    """The tenant's users with role, sites and state (never a password or its hash)."""
    ledger = principal_ledger(request, principal)
    return [user_out(u) for u in list_users(ledger, by=principal)]


@router.post("/users", status_code=201)
def post_user(body: UserIn, request: Request, principal: Manager) -> UserCreated:
    """Add a user with a generated password, returned in this answer only: hand it to them."""
    ledger = principal_ledger(request, principal)
    password = generate_password()
    add_user(ledger, body.name, body.role, password, body.sites, by=principal)
    added = get_user(ledger, body.name, by=principal)
    return UserCreated(**user_out(added).model_dump(), password=password)


@router.patch("/users/{user_id}")
def patch_user(user_id: str, body: UserChangeIn, request: Request, principal: Manager) -> UserOut:
    """Change the user's role and/or sites (``sites: null`` is every site; an absent field is
    left as it is). Their sessions and tokens follow at once."""
    ledger, name = _target(request, principal, user_id)
    sites = body.sites if "sites" in body.model_fields_set else KEEP
    return user_out(change_user(ledger, name, role=body.role, site_names=sites, by=principal))


@router.post("/users/{user_id}/password")
def post_password_reset(user_id: str, request: Request, principal: Manager) -> PasswordResetOut:
    """Give the user a new generated password, returned in this answer only; their sessions
    end."""
    ledger, name = _target(request, principal, user_id)
    password = reset_password(ledger, name, by=principal)
    return PasswordResetOut(user=user_out(get_user(ledger, name, by=principal)), password=password)


@router.post("/users/{user_id}/disable")
def post_disable(user_id: str, request: Request, principal: Manager) -> UserOut:
    """Disable the user: their sessions end and their tokens stop working."""
    ledger, name = _target(request, principal, user_id)
    disable_user(ledger, name, by=principal)
    return user_out(get_user(ledger, name, by=principal))


@router.post("/users/{user_id}/enable")
def post_enable(user_id: str, request: Request, principal: Manager) -> UserOut:
    """Enable a disabled user again."""
    ledger, name = _target(request, principal, user_id)
    return user_out(enable_user(ledger, name, by=principal))


@router.delete("/users/{user_id}")
def delete_user(user_id: str, request: Request, principal: Manager) -> UserOut:
    """Remove the user with their sessions and tokens; returns what was removed."""
    ledger, name = _target(request, principal, user_id)
    return user_out(remove_user(ledger, name, by=principal))


def _target(request: Request, principal: Principal, user_id: str) -> tuple[Ledger, str]:
    """The caller's ledger and the name of their tenant's user ``user_id`` (NotFound for any
    other id). The caller's right to manage is checked first, so a refused caller learns
    nothing of which ids exist."""
    check_manager(principal)
    ledger = principal_ledger(request, principal)
    return ledger, user_name_by_id(ledger, user_id)


def user_out(info: UserInfo) -> UserOut:
    return UserOut(
        id=info.id,
        name=info.name,
        role=cast(Role, info.role),  # one of auth.roles.ROLES, which Role spells out
        sites=info.sites,
        disabled=info.disabled,
        created_at=info.created_at,
    )
