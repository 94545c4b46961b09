"""SQLAlchemy 2 models: the system of record for consent, templates, events and the audit trail.

Schema changes happen only through Alembic migrations (``store/migrations``); these classes must
match the latest migration, which a test checks. Identifiers are random UUID strings, so a
member's id says nothing about the member.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored as naive UTC (SQLite has no time zones) and read back as aware UTC, so
    comparisons behave the same on SQLite and PostgreSQL and in SQL triggers."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC times")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[str]: JSON,
        dt.datetime: UTCDateTime(),
    }


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    jurisdiction: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The admin's operating point: expected false alerts per 1,000 non-member visitors (None:
    # the model card's default). Workers decide at the threshold that gives it.
    false_alerts_per_1000: Mapped[float | None] = mapped_column(Float, default=None)
    # What staff answers may show: the share of door alerts they may dismiss before the site is
    # over budget (NULL: the default), and a stricter track threshold an admin applied from
    # their answers (NULL: the model card's for the budget above).
    dismissal_budget: Mapped[float | None] = mapped_column(Float, default=None)
    threshold_override: Mapped[float | None] = mapped_column(Float, default=None)


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = (UniqueConstraint("site_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Shown as it is: a stream URL's password and query (tokens) are masked here, and the whole
    # URL is in ``source_sealed`` (AES-GCM under the store key, bound to the camera).
    source: Mapped[str] = mapped_column(Text)
    source_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    mode: Mapped[str] = mapped_column(String(10))
    signage_attested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Per-camera pipeline overrides (counting line, detection scale), validated on write.
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CameraHeartbeat(Base):
    """A camera worker's latest health, one row per camera, overwritten every few seconds:
    counters, times and an error in words, never face data (privacy invariant 2). ``restarts``
    is written by the supervisor, which alone sees its workers exit."""

    __tablename__ = "camera_heartbeats"
    camera_id: Mapped[str] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    fps: Mapped[float] = mapped_column(Float, default=0.0)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[int] = mapped_column(Integer, default=0)
    reconnects: Mapped[int] = mapped_column(Integer, default=0)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    last_frame_at: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(300))
    error_at: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Member(Base):
    __tablename__ = "members"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_interaction_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Notice(Base):
    """A consent notice text, versioned; consents point at the exact text shown (by hash)."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("tenant_id", "jurisdiction", "version"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    jurisdiction: Mapped[str] = mapped_column(String(20))
    version: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Consent(Base):
    __tablename__ = "consents"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    # NULL site means chain scope: valid at every site of the tenant.
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(40))
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"))
    notice_sha256: Mapped[str] = mapped_column(String(64))
    evidence_sha256: Mapped[str] = mapped_column(String(64))
    given_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column()
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column()
    guardian_name: Mapped[str | None] = mapped_column(String(200))


class Template(Base):
    """An encrypted, tenant-transformed embedding. The photo is never stored, only its hash."""

    __tablename__ = "templates"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)
    model_id: Mapped[str] = mapped_column(String(80))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    quality: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Where the view came from: "enrolment" (photos through the consent flow, a kiosk burst) or
    # "visit" (a door visit staff confirmed, or a verified claim, under a notice that says so).
    origin: Mapped[str] = mapped_column(String(16), default="enrolment", server_default="enrolment")


class Purchase(Base):
    __tablename__ = "purchases"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column()
    items: Mapped[dict[str, Any]] = mapped_column(default=dict)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))


class AuditEntry(Base):
    """Append-only, hash-chained: each entry's hash covers its content and the previous hash."""

    __tablename__ = "audit"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str | None] = mapped_column(String(32), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Event(Base):
    """A recognition or system event; carries no biometric data."""

    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    camera_id: Mapped[str | None] = mapped_column(ForeignKey("cameras.id"))
    member_id: Mapped[str | None] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Door mode: "pending" until staff confirm ("confirmed") or dismiss ("dismissed"); until
    # then the only allowed action is a greeting. NULL for events that need no confirmation.
    status: Mapped[str | None] = mapped_column(String(20))
    confirmed_by: Mapped[str | None] = mapped_column(String(200))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column()


class HeldView(Base):
    """A door recognition's fused face view, sealed like a template, held only until staff
    answer the alert: confirmed (it becomes a visit template where the member's notice allows
    it) or dismissed or left unanswered (deleted at once: it may show someone else)."""

    __tablename__ = "held_views"
    event_id: Mapped[str] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    quality: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class MemberImage(Base):
    """A picture of a member for staff to check an alert with, sealed like a template (AES-GCM
    bound to tenant, member, kind and event): the ``portrait`` the member gave at enrolment, or a
    door ``snapshot`` of a recognised track (with its event). Only under the member's consent
    for purpose ``portrait``; a snapshot whose alert is dismissed or left unanswered is deleted
    at once (it shows someone who was not the member); withdrawal and erasure delete them all."""

    __tablename__ = "member_images"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str | None] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class OutboxEntry(Base):
    """Transactional outbox: written with its event, read in ``seq`` order by the SSE stream
    (``seq`` is the stream's event id) and fanned out to webhook deliveries."""

    __tablename__ = "outbox"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Webhook(Base):
    """A staff-system endpoint that receives signed event notifications. The signing secret is
    sealed with the store key (AES-GCM, bound to the webhook id)."""

    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    # NULL site: every site of the tenant.
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One outbox entry's delivery to one webhook, retried with backoff until delivered or
    out of attempts."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_seq: Mapped[int] = mapped_column(
        ForeignKey("outbox.seq", ondelete="CASCADE"), index=True
    )
    webhook_id: Mapped[str] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(300))


class Claim(Base):
    """Verify mode: a member says who they are at a camera (QR scan, member number); the camera
    confirms or the claim expires."""

    __tablename__ = "claims"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    # "open" until the camera verifies the member ("verified") or the claim times out.
    status: Mapped[str] = mapped_column(String(12), default="open")
    resolved_at: Mapped[dt.datetime | None] = mapped_column()


class FootfallBucket(Base):
    """Anonymous counts per camera and hour: no track, face or person identifier."""

    __tablename__ = "footfall"
    __table_args__ = (UniqueConstraint("camera_id", "hour"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"), index=True)
    hour: Mapped[dt.datetime] = mapped_column()
    entries: Mapped[int] = mapped_column(Integer, default=0)
    exits: Mapped[int] = mapped_column(Integer, default=0)
    dwell_seconds: Mapped[int] = mapped_column(Integer, default=0)
    # Tracks that ended in this hour; dwell_seconds / visits is the mean dwell.
    visits: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id
    # Site ids the user may act on; NULL: every site of the tenant.
    site_ids: Mapped[list[str] | None] = mapped_column(JSON)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A scoped API token: its role and sites are at most its user's. Only a SHA-256 of the
    secret is stored (the secret is random, so a slow hash adds nothing); ``prefix`` finds it."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))
    site_ids: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column()
    last_used_at: Mapped[dt.datetime | None] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


class WebSession(Base):
    """A dashboard or kiosk login: the cookie carries the random id, the row its SHA-256 and
    the CSRF token's SHA-256 (double submit: unsafe requests must echo the token in a header)."""

    __tablename__ = "web_sessions"
    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()


class GalleryVersion(Base):
    """Per-site change counter, bumped by triggers (migration 0002); workers poll it."""

    __tablename__ = "gallery_versions"
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
