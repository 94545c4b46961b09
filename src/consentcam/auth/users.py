"""Users of the dashboard and the API: one tenant each, a role, optionally a set of sites.

Every change is audited in the same transaction, without any secret: the audit log names the
user, role and sites, never a password or hash.

Who may change whom: the CLI (``by=None``) runs as the operator of the store and may do
anything; a caller of the API (``by``, a ``Principal``) needs ``access:write`` and the whole
tenant in scope (a caller confined to some sites could otherwise widen someone's sites beyond
its own), and may only touch users whose role it could grant and only give roles it could
grant (``roles.may_grant``: an admin never creates, promotes, resets or disables an owner).
Whoever asks, a tenant always keeps one active owner: the last one cannot be removed, disabled
or given another role (``PolicyError``, nothing changed).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.auth.passwords import generate_password, hash_password
from consentcam.auth.roles import ROLES, Principal, may_grant
from consentcam.consent.context import Ledger, site_by_name
from consentcam.consent.names import hidden_character
from consentcam.errors import Conflict, InputError, NotFound, PolicyError, shown
from consentcam.store.db import deleted_rows
from consentcam.store.models import ApiToken, Site, User, WebSession, new_id

MANAGE = "access:write"


class Keep(enum.Enum):
    """'Leave as it is', where None already means something (sites: None is every site)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as listed: site names instead of ids (None: every site of the tenant)."""

    id: str
    name: str
    role: str
    sites: list[str] | None
    disabled: bool
    created_at: dt.datetime


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; choose one of: {', '.join(ROLES)}")


def check_user_name(name: str) -> None:
    if not name.strip() or len(name) > 200 or any(ord(ch) < 32 for ch in name):
        raise InputError("a user name must be 1-200 printable characters")
    # Shown in the audit log and user lists: no character that makes one name read as another.
    hidden = hidden_character(name)
    if hidden is not None:
        raise InputError(
            "a user name must not contain control, invisible formatting or text-direction "
            f"characters (found U+{ord(hidden):04X})"
        )


def add_user(
    ledger: Ledger,
    name: str,
    role: str,
    password: str,
    site_names: Sequence[str] | None = None,
    *,
    by: Principal | None = None,
) -> User:
    """Add a user to the ledger's tenant; ``site_names`` (in that tenant) confine them to those
    sites, None gives every site. ``by``: the API caller (see the module's docstring)."""
    check_user_name(name)
    check_role(role)
    check_manager(by)
    _check_grant(by, role)
    password_hash = hash_password(password)  # checks the policy before anything is written
    with ledger.store.transaction() as s:
        tenant_id = ledger.tenant_id(s)
        if _find_user(s, name, tenant_id) is not None:
            raise Conflict(f"a user named {shown(name)} already exists")
        site_ids = resolve_sites(s, site_names, tenant_id)
        user = User(
            id=new_id(),  # named by the audit entry, which is built before the row is flushed
            tenant_id=tenant_id,
            name=name,
            role=role,
            password_hash=password_hash,
            site_ids=site_ids,
            disabled=False,
        )
        chain.add_audited(
            s,
            user,
            actor=ledger.actor,
            action="user.add",
            subject=user.id,
            details={"name": name, "role": role, "sites": _names(site_names)},
            tenant_id=tenant_id,
        )
        return user


def list_users(ledger: Ledger, *, by: Principal | None = None) -> list[UserInfo]:
    """The ledger tenant's users by name (never a password hash)."""
    check_manager(by)
    with ledger.store.transaction() as s:
        tenant_id = ledger.tenant_id(s)
        names = site_names_of(s, tenant_id)
        users = s.execute(select(User).where(User.tenant_id == tenant_id).order_by(User.name))
        return [_info(u, names) for u in users.scalars()]


def get_user(ledger: Ledger, name: str, *, by: Principal | None = None) -> UserInfo:
    """One user of the ledger's tenant; NotFound for a name it does not have."""
    check_manager(by)
    with ledger.store.transaction() as s:
        user = user_by_name(s, name, ledger.tenant_id(s))
        return _info(user, site_names_of(s, user.tenant_id))


def user_name_by_id(ledger: Ledger, user_id: str) -> str:
    """The name of the ledger tenant's user ``user_id``; NotFound for any other id (another
    tenant's user answers as a missing one)."""
    with ledger.store.transaction() as s:
        query = select(User.name).where(User.id == user_id, User.tenant_id == ledger.tenant_id(s))
        name = s.execute(query).scalar()
    if name is None:
        raise NotFound(f"no user {shown(user_id)}")
    return str(name)


def disable_user(ledger: Ledger, name: str, *, by: Principal | None = None) -> User:
    """Disable a user: their sessions end now and their tokens stop working (kept, so the
    audit trail can still name them). The tenant's last active owner cannot be disabled."""
    check_manager(by)
    with ledger.store.transaction() as s:
        user = user_by_name(s, name, ledger.tenant_id(s))
        _check_grant(by, user.role, user)
        if user.disabled:
            raise InputError(f"user {shown(name)} is already disabled")
        _check_not_last_owner(s, user, "disabled")
        user.disabled = True
        ended = _end_sessions(s, user)
        chain.append(
            s,
            actor=ledger.actor,
            action="user.disable",
            subject=user.id,
            details={"name": name, "sessions_ended": ended},
            tenant_id=user.tenant_id,
        )
        return user


def enable_user(ledger: Ledger, name: str, *, by: Principal | None = None) -> UserInfo:
    """Enable a disabled user again: their password and unexpired tokens work again."""
    check_manager(by)
    with ledger.store.transaction() as s:
        user = user_by_name(s, name, ledger.tenant_id(s))
        _check_grant(by, user.role, user)
        if not user.disabled:
            raise InputError(f"user {shown(name)} is not disabled")
        user.disabled = False
        chain.append(
            s,
            actor=ledger.actor,
            action="user.enable",
            subject=user.id,
            details={"name": name},
            tenant_id=user.tenant_id,
        )
        return _info(user, site_names_of(s, user.tenant_id))


def reset_password(ledger: Ledger, name: str, *, by: Principal | None = None) -> str:
    """Give a user a new random password and end their sessions; returns the password, the
    only copy (only its hash is stored): show it once to whoever asked, who hands it over.

    A generated password rather than an emailed link: the shop has no mail set up, a link would
    need a stored reset token, and the person resetting is beside the user anyway."""
    check_manager(by)
    password = generate_password()
    password_hash = hash_password(password)
    with ledger.store.transaction() as s:
        user = user_by_name(s, name, ledger.tenant_id(s))
        _check_grant(by, user.role, user)
        user.password_hash = password_hash
        ended = _end_sessions(s, user)
        chain.append(
            s,
            actor=ledger.actor,
            action="user.password_reset",
            subject=user.id,
            details={"name": name, "sessions_ended": ended},
            tenant_id=user.tenant_id,
        )
    return password


def change_user(
    ledger: Ledger,
    name: str,
    *,
    role: str | None = None,
    site_names: Sequence[str] | Keep | None = KEEP,
    by: Principal | None = None,
) -> UserInfo:
    """Change a user's role and/or sites (None: every site; ``KEEP``: as they are). Sessions
    and tokens follow at once (both are checked against the user on every request). The
    tenant's last active owner keeps the owner role."""
    if role is not None:
        check_role(role)
    check_manager(by)
    with ledger.store.transaction() as s:
        user = user_by_name(s, name, ledger.tenant_id(s))
        _check_grant(by, user.role, user)
        changes: dict[str, object] = {"name": name}
        if role is not None and role != user.role:
            _check_grant(by, role)
            _check_not_last_owner(s, user, f"given the role {role!r}")
            changes["role"] = {"from": user.role, "to": role}
            user.role = role
        if not isinstance(site_names, Keep):
            site_ids = resolve_sites(s, site_names, user.tenant_id)
            if site_ids != user.site_ids:
                changes["sites"] = _names(site_names)
                user.site_ids = site_ids
        if len(changes) == 1:
            raise InputError(f"nothing to change: user {shown(name)} already has that")
        chain.append(
            s,
            actor=ledger.actor,
            action="user.change",
            subject=user.id,
            details=changes,
            tenant_id=user.tenant_id,
        )
        return _info(user, site_names_of(s, user.tenant_id))


def remove_user(ledger: Ledger, name: str, *, by: Principal | None = None) -> UserInfo:
    """Remove a user with their sessions and tokens. The audit log keeps their name (in this
    entry and the earlier ones). The tenant's last active owner cannot be removed."""
    check_manager(by)
    with ledger.store.transaction() as s:
        user = user_by_name(s, name, ledger.tenant_id(s))
        _check_grant(by, user.role, user)
        _check_not_last_owner(s, user, "removed")
        info = _info(user, site_names_of(s, user.tenant_id))
        ended = _end_sessions(s, user)
        tokens = deleted_rows(s, delete(ApiToken).where(ApiToken.user_id == user.id))
        chain.append(
            s,
            actor=ledger.actor,
            action="user.remove",
            subject=user.id,
            details={
                "name": name,
                "role": user.role,
                "sessions_ended": ended,
                "tokens_deleted": tokens,
            },
            tenant_id=user.tenant_id,
        )
        s.delete(user)
        return info


def check_manager(by: Principal | None) -> None:
    """PolicyError unless ``by`` (an API caller; None: the CLI's operator) may manage users
    and tokens: ``access:write`` and the whole tenant in scope."""
    if by is None:
        return
    if not by.may(MANAGE):
        raise PolicyError(f"role {by.role!r} may not manage users or tokens")
    if by.site_ids is not None:
        raise PolicyError(
            "managing users and tokens needs a caller whose scope is the whole tenant"
        )


def check_may_manage(by: Principal | None, user: User) -> None:
    """PolicyError unless ``by`` may act on ``user`` (a role it could grant)."""
    check_manager(by)
    _check_grant(by, user.role, user)


def site_names_of(s: Session, tenant_id: str) -> dict[str, str]:
    """Site id to name, for the tenant."""
    rows = s.execute(select(Site.id, Site.name).where(Site.tenant_id == tenant_id)).all()
    return {str(i): str(n) for i, n in rows}


def _info(user: User, names: dict[str, str]) -> UserInfo:
    return UserInfo(
        id=user.id,
        name=user.name,
        role=user.role,
        sites=None if user.site_ids is None else sorted(names.get(i, i) for i in user.site_ids),
        disabled=user.disabled,
        created_at=user.created_at,
    )


def _check_grant(by: Principal | None, role: str, user: User | None = None) -> None:
    """PolicyError unless ``by`` could grant ``role`` (the role given, or that of ``user``,
    the user acted on)."""
    if by is None or may_grant(by.role, role):
        return
    if user is None:
        raise PolicyError(f"role {by.role!r} cannot give the role {role!r}")
    raise PolicyError(f"role {by.role!r} cannot manage {shown(user.name)} ({role})")


def _check_not_last_owner(s: Session, user: User, doing: str) -> None:
    """PolicyError if ``user`` is the tenant's only active owner. The active owners are locked
    first (FOR UPDATE on PostgreSQL; SQLite runs one writer at a time), so two requests demoting
    the last two owners at once cannot both pass."""
    if user.role != "owner" or user.disabled:
        return
    query = (
        select(User.id)
        .where(User.tenant_id == user.tenant_id, User.role == "owner", User.disabled.is_(False))
        .with_for_update()
    )
    owners = set(s.execute(query).scalars())
    if owners <= {user.id}:
        raise PolicyError(
            f"{shown(user.name)} is the tenant's last active owner and cannot be {doing}; "
            "make another user owner first"
        )


def _end_sessions(s: Session, user: User) -> int:
    return int(deleted_rows(s, delete(WebSession).where(WebSession.user_id == user.id)) or 0)


def user_by_name(s: Session, name: str, tenant_id: str) -> User:
    user = _find_user(s, name, tenant_id)
    if user is None:
        raise NotFound(f"no user named {shown(name)}")
    return user


def resolve_sites(s: Session, site_names: Sequence[str] | None, tenant_id: str) -> list[str] | None:
    """Site ids for ``site_names`` in the tenant (NotFound for any other), None for None. An
    empty list is refused: it would read as 'no sites' but mean nothing useful."""
    if site_names is None:
        return None
    if not site_names:
        raise InputError("give at least one site, or none at all for every site")
    return sorted({site_by_name(s, n, tenant_id).id for n in site_names})


def _find_user(s: Session, name: str, tenant_id: str) -> User | None:
    query = select(User).where(User.tenant_id == tenant_id, User.name == name)
    return s.execute(query).scalar()


def _names(site_names: Sequence[str] | None) -> list[str] | None:
    return None if site_names is None else sorted(set(site_names))
