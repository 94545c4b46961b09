"""Reads the API needs beyond the library's actions, and the caller's scope applied to them.

Every lookup here is confined to the caller's tenant and sites. Something outside them is
reported exactly as something that does not exist (same status, same message), so a caller
cannot probe for another tenant's or another site's records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from consentcam.api.schemas import ConsentState
from consentcam.api.security import check_site
from consentcam.auth.roles import Principal
from consentcam.consent.consents import notice_text
from consentcam.consent.context import member_by_id, site_by_name
from consentcam.consent.profiles import RECOGNITION
from consentcam.consent.purchases import purchase_rows
from consentcam.errors import ConsentcamError, InputError, NotFound, PolicyError, shown
from consentcam.store.models import (
    AuditEntry,
    Camera,
    Consent,
    Event,
    Member,
    Notice,
    OutboxEntry,
    Site,
    Template,
    Webhook,
)

ConsentStatus = tuple[ConsentState, dt.datetime | None]


def missing_site(name: str) -> NotFound:
    """The one answer for a site the caller cannot see: the same bytes whether it does not
    exist, belongs to another tenant or lies outside the caller's sites, with the name they
    sent quoted short and escaped, and never an internal id."""
    return NotFound(f"no site named {shown(name)}")


def missing_member(member_id: str) -> NotFound:
    return NotFound(f"no member {shown(member_id)}")


def missing_camera(ref: str) -> NotFound:
    return NotFound(f"no camera {shown(ref)}")


def scoped_site(s: Session, principal: Principal, name: str) -> Site:
    """The caller's site named ``name``; ``missing_site`` otherwise."""
    try:
        site = site_by_name(s, name, principal.tenant_id)
        check_site(principal, site.id)
    except NotFound:
        raise missing_site(name) from None
    return site


def scoped_member(s: Session, principal: Principal, member_id: str) -> Member:
    """The caller's member ``member_id`` (home site in scope); ``missing_member`` otherwise."""
    try:
        member = member_by_id(s, member_id, principal.tenant_id)
        check_site(principal, member.site_id)
    except NotFound:
        raise missing_member(member_id) from None
    return member


def scoped_camera(s: Session, principal: Principal, ref: str, site: Site | None) -> Camera:
    """The caller's camera by id or name (within ``site`` when given); ``missing_camera``
    otherwise. A name is looked up among the caller's sites only, so a camera of the same name
    at a site out of scope neither makes the name ambiguous nor shows that it exists."""
    query = (
        select(Camera)
        .join(Site, Site.id == Camera.site_id)
        .where(Site.tenant_id == principal.tenant_id)
    )
    if site is not None:
        query = query.where(Camera.site_id == site.id)
    found = [
        camera
        for camera in s.execute(query.where(or_(Camera.id == ref, Camera.name == ref))).scalars()
        if principal.covers(camera.site_id)
    ]
    by_id = [camera for camera in found if camera.id == ref]
    if by_id:
        return by_id[0]
    if not found:
        raise missing_camera(ref)
    if len(found) > 1:
        raise InputError(
            f"several of your sites have a camera named {shown(ref)}; name the site (site)"
        )
    return found[0]


def visible_sites(s: Session, principal: Principal) -> list[Site]:
    """The tenant's sites the caller may see, by name."""
    sites = s.execute(
        select(Site).where(Site.tenant_id == principal.tenant_id).order_by(Site.name)
    ).scalars()
    return [site for site in sites if principal.covers(site.id)]


def require_tenant_wide(principal: Principal, what: str) -> None:
    """PolicyError (403) for a caller confined to some sites: ``what`` spans the tenant."""
    if principal.site_ids is not None:
        raise PolicyError(f"{what} needs a caller whose scope is the whole tenant")


def consent_statuses(
    s: Session, members: Sequence[Member], now: dt.datetime
) -> dict[str, ConsentStatus]:
    """Each member's recognition consent status and the active consent's expiry, in one query:
    ``active`` as ``ledger.active_consent`` decides it, else what ended the newest consent
    covering the member's site (``withdrawn`` or ``expired``), else ``none``."""
    by_member: dict[str, list[Consent]] = defaultdict(list)
    rows = s.execute(
        select(Consent)
        .where(Consent.member_id.in_([m.id for m in members]), Consent.purpose == RECOGNITION)
        .order_by(Consent.given_at.desc())
    ).scalars()
    for consent in rows:
        by_member[consent.member_id].append(consent)
    return {m.id: _status(m, by_member[m.id], now) for m in members}


def _status(member: Member, consents: list[Consent], now: dt.datetime) -> ConsentStatus:
    covering = [c for c in consents if c.site_id in (None, member.site_id)]
    for c in covering:
        if c.withdrawn_at is None and (c.expires_at is None or c.expires_at > now):
            return "active", c.expires_at
    if not covering:
        return "none", None
    return ("withdrawn" if covering[0].withdrawn_at is not None else "expired"), None


def template_counts(
    s: Session, member_ids: Sequence[str], origin: str | None = None
) -> dict[str, int]:
    """Stored templates per member (only those of ``origin``, if given)."""
    query = select(Template.member_id, func.count()).where(Template.member_id.in_(list(member_ids)))
    if origin is not None:
        query = query.where(Template.origin == origin)
    rows = s.execute(query.group_by(Template.member_id))
    counts = {member_id: int(n) for member_id, n in rows}
    return {member_id: counts.get(member_id, 0) for member_id in member_ids}


def site_members(s: Session, site: Site, limit: int, offset: int) -> tuple[list[Member], int]:
    """One page of the members at home at ``site`` (oldest first) and their total."""
    total = s.execute(
        select(func.count()).select_from(Member).where(Member.site_id == site.id)
    ).scalar_one()
    page = s.execute(
        select(Member)
        .where(Member.site_id == site.id)
        .order_by(Member.created_at, Member.id)
        .limit(limit)
        .offset(offset)
    ).scalars()
    return list(page), int(total)


def enrolled_members(s: Session, site: Site) -> int:
    """Members at home at ``site`` with at least one stored template."""
    query = (
        select(func.count(func.distinct(Template.member_id)))
        .join(Member, Member.id == Template.member_id)
        .where(Member.site_id == site.id)
    )
    return int(s.execute(query).scalar_one())


def member_count(s: Session, site: Site) -> int:
    query = select(func.count()).select_from(Member).where(Member.site_id == site.id)
    return int(s.execute(query).scalar_one())


def site_cameras(s: Session, site: Site) -> list[Camera]:
    query = select(Camera).where(Camera.site_id == site.id).order_by(Camera.name)
    return list(s.execute(query).scalars())


def notice(s: Session, site: Site, version: str) -> tuple[str, str]:
    """The notice text of ``version`` for the site's profile and its SHA-256: the stored one if a
    consent was already recorded against it (the exact text shown then), else the text a consent
    would record now. Reading does not store anything."""
    stored = s.execute(
        select(Notice).where(
            Notice.tenant_id == site.tenant_id,
            Notice.jurisdiction == site.jurisdiction,
            Notice.version == version,
        )
    ).scalar()
    if stored is not None:
        return stored.text, stored.sha256
    text = notice_text(site.jurisdiction, version)
    return text, hashlib.sha256(text.encode()).hexdigest()


def events_page(
    s: Session, site_ids: Sequence[str], after: int | None, limit: int
) -> list[tuple[int, Event]]:
    """Events of ``site_ids`` in seq order: the first ``limit`` after ``after``, or without it
    the latest ``limit``."""
    query = (
        select(OutboxEntry.seq, Event)
        .join(Event, Event.id == OutboxEntry.event_id)
        .where(OutboxEntry.site_id.in_(list(site_ids)))
    )
    if after is not None:
        rows = s.execute(
            query.where(OutboxEntry.seq > after).order_by(OutboxEntry.seq).limit(limit)
        )
        return [(seq, event) for seq, event in rows]
    rows = s.execute(query.order_by(OutboxEntry.seq.desc()).limit(limit))
    return [(seq, event) for seq, event in rows][::-1]


def audit_page(s: Session, tenant_id: str, after_seq: int, limit: int) -> list[AuditEntry]:
    query = (
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id, AuditEntry.seq > after_seq)
        .order_by(AuditEntry.seq)
        .limit(limit)
    )
    return list(s.execute(query).scalars())


def webhook_in_scope(webhook: Webhook, principal: Principal) -> bool:
    """A tenant-wide webhook (no site) is only for a caller whose scope is the whole tenant."""
    if webhook.tenant_id != principal.tenant_id:
        return False
    if webhook.site_id is None:
        return principal.site_ids is None
    return principal.covers(webhook.site_id)


def visible_webhook_ids(s: Session, principal: Principal) -> set[str]:
    hooks = s.execute(select(Webhook).where(Webhook.tenant_id == principal.tenant_id)).scalars()
    return {w.id for w in hooks if webhook_in_scope(w, principal)}


def scoped_webhook(s: Session, principal: Principal, webhook_id: str) -> Webhook:
    webhook = s.get(Webhook, webhook_id)
    if webhook is None or not webhook_in_scope(webhook, principal):
        raise NotFound(f"no webhook {shown(webhook_id)}")
    return webhook


def check_purchase_members(s: Session, principal: Principal, data: bytes) -> None:
    """Refuse a purchases file unless every row's member is the caller's (NotFound naming the
    first line that is not); malformed files get the importer's own InputError."""
    # Parsed exactly as the importer will parse it; named neutrally, so messages carry no
    # server path.
    for row in purchase_rows(Path("purchases.csv"), data):
        try:
            scoped_member(s, principal, row.member_id)
        except NotFound as exc:
            raise NotFound(f"purchases.csv: line {row.line}: {exc}") from None


def renamed_paths(exc: ConsentcamError, names: dict[str, str]) -> ConsentcamError:
    """The same error with server paths in its message replaced by names the caller knows."""
    message = str(exc)
    for path, name in names.items():
        message = message.replace(path, name)
    return type(exc)(message) if message != str(exc) else exc
