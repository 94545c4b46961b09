"""Users of the dashboard and the API: one tenant each, a role, optionally a set of sites.

Every change is audited in the same transaction, without any secret: the audit log names the
user, role and sites, never a password or hash.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.auth.passwords import hash_password
from consentcam.auth.roles import ROLES
from consentcam.consent.context import Ledger, site_by_name
from consentcam.consent.names import hidden_character
from consentcam.errors import Conflict, InputError, NotFound
from consentcam.store.db import deleted_rows
from consentcam.store.models import Site, User, WebSession, new_id


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
) -> User:
    """Add a user to the ledger's tenant; ``site_names`` (in that tenant) confine them to those
    sites, None gives every site."""
    check_user_name(name)
    check_role(role)
    password_hash = hash_password(password)  # checks the policy before anything is written
    with ledger.store.transaction() as s:
        tenant_id = ledger.tenant_id(s)
        if _find_user(s, name, tenant_id) is not None:
            raise Conflict(f"a user named {name!r} already exists")
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


def list_users(ledger: Ledger) -> list[UserInfo]:
    """The ledger tenant's users by name."""
    with ledger.store.transaction() as s:
        tenant_id = ledger.tenant_id(s)
        names = dict(s.execute(select(Site.id, Site.name).where(Site.tenant_id == tenant_id)).all())
        users = s.execute(select(User).where(User.tenant_id == tenant_id).order_by(User.name))
        return [
            UserInfo(
                id=u.id,
                name=u.name,
                role=u.role,
                sites=None if u.site_ids is None else sorted(names.get(i, i) for i in u.site_ids),
                disabled=u.disabled,
                created_at=u.created_at,
            )
            for u in users.scalars()
        ]


def disable_user(ledger: Ledger, name: str) -> User:
    """Disable a user: their sessions end now and their tokens stop working (kept, so the
    audit trail can still name them)."""
    with ledger.store.transaction() as s:
        user = user_by_name(s, name, ledger.tenant_id(s))
        if user.disabled:
            raise InputError(f"user {name!r} is already disabled")
        user.disabled = True
        statement = delete(WebSession).where(WebSession.user_id == user.id)
        ended = deleted_rows(s, statement)
        chain.append(
            s,
            actor=ledger.actor,
            action="user.disable",
            subject=user.id,
            details={"name": name, "sessions_ended": int(ended or 0)},
            tenant_id=user.tenant_id,
        )
        return user


def user_by_name(s: Session, name: str, tenant_id: str) -> User:
    user = _find_user(s, name, tenant_id)
    if user is None:
        raise NotFound(f"no user named {name!r}")
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
