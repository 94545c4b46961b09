"""Dashboard and kiosk sessions: a password login gives a random session id (the cookie) and a
CSRF token; the store keeps only their SHA-256.

Unsafe requests authenticated by the cookie must echo the CSRF token in a header: a cross-site
page can make the browser send the cookie but cannot read the token. Every login attempt is
audited, successful or not, never with the password; a failed one gives the caller nothing that
tells an unknown user from a wrong password.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.auth.passwords import rehashed, verify_password
from consentcam.auth.roles import Principal
from consentcam.store.db import Store, deleted_rows
from consentcam.store.models import Tenant, User, WebSession, utcnow

SESSION_TTL = dt.timedelta(hours=12)
ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class NewSession:
    """A successful login. ``session_id`` and ``csrf_token`` exist only here and in the
    client's hands."""

    session_id: str
    csrf_token: str
    principal: Principal
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SessionAuth:
    """A request's valid session: who it is and the CSRF token's hash to check against."""

    principal: Principal
    csrf_sha256: str

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(digest(token), self.csrf_sha256)


@dataclass(frozen=True, slots=True)
class _Candidate:
    tenant_id: str | None
    user_id: str | None
    password_hash: str | None


def login(
    store: Store,
    tenant: str,
    username: str,
    password: str,
    *,
    client: str,
    now: dt.datetime | None = None,
) -> NewSession | None:
    """A new session if ``username`` in ``tenant`` has this password and is enabled; None
    otherwise. ``client`` (the caller's address) goes into the audit entry."""
    now = now or utcnow()
    with store.transaction() as s:
        candidate = _candidate(s, tenant, username)
    # The slow hash runs outside any transaction, so it holds no database connection or lock.
    matches = verify_password(candidate.password_hash, password)
    fresh = (
        rehashed(candidate.password_hash, password) if matches and candidate.password_hash else None
    )
    with store.transaction() as s:
        user = s.get(User, candidate.user_id) if matches and candidate.user_id else None
        if user is None or user.disabled or user.password_hash != candidate.password_hash:
            # Names as typed only when they exist: a password typed into the tenant or user
            # name field must not end up in the append-only audit log.
            typed = username[:200] if candidate.user_id is not None else "(no such user)"
            where = tenant[:200] if candidate.tenant_id is not None else "(no such tenant)"
            details = {"tenant": where, "user": typed, "client": client}
            _audit_failure(s, candidate, details, _failure(candidate, matches, user))
            return None
        if fresh is not None:
            user.password_hash = fresh
        return _start(s, user, tenant, client, now)


def session_auth(s: Session, session_id: str, now: dt.datetime | None = None) -> SessionAuth | None:
    """The session behind a cookie value, or None (unknown, expired, user disabled)."""
    now = now or utcnow()
    query = (
        select(WebSession, User, Tenant.name)
        .join(User, User.id == WebSession.user_id)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(WebSession.id_sha256 == digest(session_id))
    )
    found = s.execute(query).first()
    if found is None:
        return None
    row, user, tenant = found
    if row.expires_at <= now or user.disabled:
        s.delete(row)
        return None
    return SessionAuth(_principal(user, tenant), row.csrf_sha256)


def logout(store: Store, session_id: str, principal: Principal) -> bool:
    """End the session behind ``session_id``; whether there was one."""
    with store.transaction() as s:
        statement = delete(WebSession).where(WebSession.id_sha256 == digest(session_id))
        if not deleted_rows(s, statement):
            return False
        chain.append(
            s,
            actor=principal.actor,
            action="auth.logout",
            subject=principal.user_id,
            tenant_id=principal.tenant_id,
        )
        return True


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _candidate(s: Session, tenant: str, username: str) -> _Candidate:
    # Looked up, never created: a login must not make tenants appear.
    tenant_id = s.execute(select(Tenant.id).where(Tenant.name == tenant)).scalar()
    if tenant_id is None:
        return _Candidate(None, None, None)
    query = select(User).where(User.tenant_id == tenant_id, User.name == username)
    user = s.execute(query).scalar()
    if user is None:
        return _Candidate(tenant_id, None, None)
    return _Candidate(tenant_id, user.id, user.password_hash)


def _audit_failure(s: Session, candidate: _Candidate, details: dict[str, str], reason: str) -> None:
    chain.append(
        s,
        actor=ANONYMOUS,
        action="auth.login_failed",
        subject=candidate.user_id,
        details={**details, "reason": reason},
        tenant_id=candidate.tenant_id,
    )


def _failure(candidate: _Candidate, matches: bool, user: User | None) -> str:
    """Why a login failed, for the audit log only (the caller never learns it)."""
    if candidate.tenant_id is None:
        return "unknown tenant"
    if candidate.user_id is None:
        return "unknown user"
    if not matches:
        return "wrong password"
    if user is not None and user.disabled:
        return "user disabled"
    return "password changed during login"


def _start(s: Session, user: User, tenant: str, client: str, now: dt.datetime) -> NewSession:
    session_id, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires_at = now + SESSION_TTL
    # Expired sessions of this user go now; the index on user_id keeps this cheap.
    s.execute(delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at <= now))
    s.add(
        WebSession(
            id_sha256=digest(session_id),
            user_id=user.id,
            csrf_sha256=digest(csrf_token),
            created_at=now,
            expires_at=expires_at,
        )
    )
    principal = _principal(user, tenant)
    chain.append(
        s,
        actor=principal.actor,
        action="auth.login",
        subject=user.id,
        details={"client": client, "expires_at": expires_at.isoformat()},
        tenant_id=user.tenant_id,
    )
    return NewSession(session_id, csrf_token, principal, expires_at)


def _principal(user: User, tenant: str) -> Principal:
    return Principal(
        user_id=user.id,
        user=user.name,
        tenant=tenant,
        tenant_id=user.tenant_id,
        role=user.role,
        site_ids=None if user.site_ids is None else frozenset(user.site_ids),
        via="session",
    )
