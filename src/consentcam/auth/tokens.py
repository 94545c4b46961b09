"""Scoped API tokens: ``cc_<prefix>_<secret>``, sent as ``Authorization: Bearer <token>``.

The prefix (12 random letters and digits) finds the row; only the SHA-256 of the secret (32
random bytes) is stored, and it is compared in constant time. A token's role and sites are at
most its user's, checked when it is issued and again on every use, so narrowing or disabling a
user narrows or stops their tokens at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.auth.roles import Principal, may_grant
from consentcam.auth.users import (
    check_manager,
    check_may_manage,
    check_role,
    resolve_sites,
    site_names_of,
    user_by_name,
)
from consentcam.consent.context import Ledger
from consentcam.errors import InputError, NotFound, PolicyError, shown
from consentcam.store.models import ApiToken, Tenant, User, new_id, utcnow

SCHEME = "cc"
PREFIX_LENGTH = 12
# Letters and digits only: the prefix must not contain the "_" that separates the parts.
PREFIX_ALPHABET = string.ascii_letters + string.digits
DEFAULT_DAYS = 90
MAX_DAYS = 3650
# Recording every use would turn each API read into a write; once a minute is enough to tell
# an idle token from a used one.
LAST_USED_EVERY = dt.timedelta(minutes=1)
_NO_MATCH = "0" * 64


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token. ``token`` is the only copy of the secret: show it once, then forget it."""

    token: str
    id: str
    prefix: str
    user: str
    label: str
    role: str
    site_ids: list[str] | None
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never its secret nor the secret's hash."""

    id: str
    prefix: str
    user: str
    label: str
    role: str
    sites: list[str] | None  # site names; None: the user's sites, whatever they are
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def state(self, now: dt.datetime) -> str:
        """'revoked', 'expired' or 'active'."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def issue_token(
    ledger: Ledger,
    user_name: str,
    label: str,
    *,
    role: str | None = None,
    site_names: Sequence[str] | None = None,
    days: int = DEFAULT_DAYS,
    now: dt.datetime | None = None,
    by: Principal | None = None,
) -> IssuedToken:
    """A token for ``user_name`` in the ledger's tenant with ``role`` (default: the user's) and
    ``site_names`` (default: the user's sites), valid for ``days``. PolicyError if the role or
    sites would exceed the user's, or, for an API caller ``by``, if it may not manage that user
    (``users.check_may_manage``)."""
    _check_label(label)
    check_manager(by)
    if not 1 <= days <= MAX_DAYS:
        raise InputError(f"a token's lifetime must be 1-{MAX_DAYS} days")
    now = now or utcnow()
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = secrets.token_urlsafe(32)
    with ledger.store.transaction() as s:
        user = user_by_name(s, user_name, ledger.tenant_id(s))
        check_may_manage(by, user)
        if user.disabled:
            raise PolicyError(f"user {shown(user_name)} is disabled")
        role = _granted_role(user, role)
        site_ids = _granted_sites(user, resolve_sites(s, site_names, user.tenant_id))
        row = ApiToken(
            id=new_id(),  # named by the audit entry, which is built before the row is flushed
            user_id=user.id,
            name=label,
            prefix=prefix,
            secret_sha256=_digest(secret),
            role=role,
            site_ids=site_ids,
            created_at=now,
            expires_at=now + dt.timedelta(days=days),
        )
        chain.add_audited(
            s,
            row,
            actor=ledger.actor,
            action="token.issue",
            subject=user.id,
            details={"token_id": row.id, "prefix": prefix, "label": label, "role": role},
            tenant_id=user.tenant_id,
        )
        return IssuedToken(
            token=f"{SCHEME}_{prefix}_{secret}",
            id=row.id,
            prefix=prefix,
            user=user.name,
            label=label,
            role=role,
            site_ids=site_ids,
            expires_at=now + dt.timedelta(days=days),
        )


def revoke_token(
    ledger: Ledger, ref: str, now: dt.datetime | None = None, *, by: Principal | None = None
) -> ApiToken:
    """Revoke a token of the ledger's tenant, named by its id or prefix (``by``: an API caller,
    who must be allowed to manage the token's user)."""
    now = now or utcnow()
    check_manager(by)
    with ledger.store.transaction() as s:
        query = (
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(User.tenant_id == ledger.tenant_id(s))
            .where(or_(ApiToken.id == ref, ApiToken.prefix == ref))
        )
        found = s.execute(query).first()
        if found is None:
            raise NotFound(f"no token {shown(ref)}")
        token, user = found
        check_may_manage(by, user)
        if token.revoked_at is not None:
            raise InputError(f"token {shown(ref)} is already revoked")
        token.revoked_at = now
        chain.append(
            s,
            actor=ledger.actor,
            action="token.revoke",
            subject=token.user_id,
            details={"token_id": token.id, "prefix": token.prefix},
            tenant_id=ledger.tenant_id(s),
        )
        return token


def list_tokens(ledger: Ledger, *, by: Principal | None = None) -> list[TokenInfo]:
    """The tenant's tokens, newest first, without their secrets (only the prefix that names
    one)."""
    check_manager(by)
    with ledger.store.transaction() as s:
        tenant_id = ledger.tenant_id(s)
        names = site_names_of(s, tenant_id)
        query = (
            select(ApiToken, User.name)
            .join(User, User.id == ApiToken.user_id)
            .where(User.tenant_id == tenant_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.prefix)
        )
        return [
            TokenInfo(
                id=row.id,
                prefix=row.prefix,
                user=user,
                label=row.name,
                role=row.role,
                sites=None
                if row.site_ids is None
                else sorted(names.get(i, i) for i in row.site_ids),
                created_at=row.created_at,
                expires_at=row.expires_at,
                last_used_at=row.last_used_at,
                revoked_at=row.revoked_at,
            )
            for row, user in s.execute(query).all()
        ]


def token_principal(s: Session, token: str, now: dt.datetime | None = None) -> Principal | None:
    """The caller a token stands for, or None (malformed, unknown, wrong secret, expired,
    revoked, user disabled, or a role the user no longer has)."""
    parts = parse_token(token)
    if parts is None:
        return None
    prefix, secret = parts
    now = now or utcnow()
    query = (
        select(ApiToken, User, Tenant.name)
        .join(User, User.id == ApiToken.user_id)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(ApiToken.prefix == prefix)
    )
    found = s.execute(query).first()
    stored = found[0].secret_sha256 if found is not None else _NO_MATCH
    # Compare even when the prefix is unknown, so both failures take the same path.
    if not hmac.compare_digest(_digest(secret), stored) or found is None:
        return None
    row, user, tenant = found
    if not _usable(row, user, now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        row.last_used_at = now
    return Principal(
        user_id=user.id,
        user=user.name,
        tenant=tenant,
        tenant_id=user.tenant_id,
        role=row.role,
        site_ids=_effective_sites(user.site_ids, row.site_ids),
        via="token",
    )


def parse_token(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed token, else None."""
    scheme, _, rest = token.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != SCHEME or not secret or len(token) > 200 or not token.isascii():
        return None
    if len(prefix) != PREFIX_LENGTH or any(ch not in PREFIX_ALPHABET for ch in prefix):
        return None
    return prefix, secret


def _usable(row: ApiToken, user: User, now: dt.datetime) -> bool:
    expired = row.expires_at is not None and row.expires_at <= now
    return (
        row.revoked_at is None
        and not expired
        and not user.disabled
        and may_grant(user.role, row.role)
    )


def _granted_role(user: User, role: str | None) -> str:
    if role is None:
        return user.role
    check_role(role)
    if not may_grant(user.role, role):
        raise PolicyError(f"a token of {user.name!r} ({user.role}) cannot have role {role!r}")
    return role


def _granted_sites(user: User, site_ids: list[str] | None) -> list[str] | None:
    if site_ids is None:
        return None  # follows the user's sites, whatever they become
    if user.site_ids is not None and not set(site_ids) <= set(user.site_ids):
        raise PolicyError(f"a token of {user.name!r} can only cover the user's own sites")
    return site_ids


def _effective_sites(
    user_sites: list[str] | None, token_sites: list[str] | None
) -> frozenset[str] | None:
    if user_sites is None:
        return None if token_sites is None else frozenset(token_sites)
    if token_sites is None:
        return frozenset(user_sites)
    return frozenset(user_sites) & frozenset(token_sites)


def _check_label(label: str) -> None:
    if not label.strip() or len(label) > 200 or any(ord(ch) < 32 for ch in label):
        raise InputError("a token label must be 1-200 printable characters")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
