"""Consents: recorded with the hash of their evidence and of the exact notice shown, under the
site profile's rules (written release, guardians), and the consent in force for a purpose.

Every action runs in one transaction together with its audit entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.context import Ledger, member_by_id
from consentcam.consent.names import check_name
from consentcam.consent.profiles import (
    PORTRAIT,
    PORTRAIT_NOTICE_VERSIONS,
    PURPOSES,
    RECOGNITION,
    portrait_notice_sentence,
    profile,
    visit_notice_sentence,
)
from consentcam.errors import ConsentError, InputError, NotFound
from consentcam.store.db import stored_once
from consentcam.store.models import Consent, Member, Notice, Site, new_id, utcnow

# How consent was given: at the kiosk (explicit act on screen), on a signed paper or electronic
# release, or in the member app.
CHANNELS = ("kiosk", "written", "app")
# As the API's ConsentIn allows: the version names a notice text, it is not free text.
NOTICE_VERSION = re.compile(r"[A-Za-z0-9._-]{1,40}")


def notice_text(jurisdiction: str, version: str) -> str:
    rules = profile(jurisdiction)
    return (
        f"Consent notice {version} ({rules.name}). {rules.signage} Your face template is used "
        "only to recognise you at this business's cameras, is encrypted, is never sold or "
        "shared, and is deleted when you withdraw (as easy as giving consent), when your "
        "consent expires, or after a period without visits. Refusing has no effect on your "
        f"membership or its benefits. Legal basis and rules: {rules.source}."
        + visit_notice_sentence(version)
        + portrait_notice_sentence(version)
    )


def record_consent(
    ledger: Ledger,
    member_id: str,
    *,
    purpose: str,
    evidence: Path,
    notice_version: str = "v1",
    expires: dt.datetime | None = None,
    channel: str = "kiosk",
    chain_scope: bool = False,
    guardian_name: str | None = None,
    age: int | None = None,
) -> Consent:
    """Record a consent with the hash of its evidence (signed form, kiosk record) and of the
    exact notice text shown. The evidence file itself is not stored.

    The site's profile decides what else is needed: a written release (BIPA) means the channel
    must be ``written``; a member younger than the profile's guardian age (declared ``age``)
    needs the guardian's name, and the evidence is then the guardian's signed consent."""
    if purpose not in PURPOSES:
        raise InputError(f"unknown purpose {purpose!r}; supported: {', '.join(PURPOSES)}")
    if purpose == PORTRAIT and notice_version not in PORTRAIT_NOTICE_VERSIONS:
        raise InputError(
            f"notice {notice_version} does not describe the portrait purpose; record it under "
            f"notice {', '.join(sorted(PORTRAIT_NOTICE_VERSIONS))}"
        )
    if channel not in CHANNELS:
        raise InputError(f"unknown channel {channel!r}; choose one of: {', '.join(CHANNELS)}")
    if age is not None and not 0 <= age <= 130:
        raise InputError(f"age must be between 0 and 130, got {age}")
    if not NOTICE_VERSION.fullmatch(notice_version):
        raise InputError("a notice version is 1-40 letters, digits, '.', '_' or '-'")
    if guardian_name is not None:
        check_name(guardian_name, "guardian name")
    try:
        if not evidence.is_file():
            raise NotFound(f"{evidence}: evidence file not found")
        evidence_hash = hashlib.sha256(evidence.read_bytes()).hexdigest()
    except OSError as exc:  # a name too long, a file that cannot be read
        raise InputError(f"{evidence}: cannot read the evidence file ({exc.strerror})") from None
    now = utcnow()
    if expires is not None and expires <= now:
        raise InputError(f"consent expiry {expires.isoformat()} is in the past")
    with ledger.store.transaction() as s:
        member = member_by_id(s, member_id, ledger.tenant_id(s))
        site = s.get(Site, member.site_id)
        assert site is not None
        _check_consent_form(site.jurisdiction, channel, age, guardian_name)
        notice = _notice(s, site, notice_version)
        consent = Consent(
            id=new_id(),  # set here, so that the audit entry names the consent
            tenant_id=member.tenant_id,
            member_id=member.id,
            site_id=None if chain_scope else site.id,
            purpose=purpose,
            channel=channel,
            notice_id=notice.id,
            notice_sha256=notice.sha256,
            evidence_sha256=evidence_hash,
            given_at=now,
            expires_at=expires,
            guardian_name=guardian_name,
        )
        chain.add_audited(
            s,
            consent,
            actor=ledger.actor,
            action="consent.record",
            subject=member.id,
            details={
                "consent": consent.id,
                "purpose": purpose,
                "notice": notice_version,
                "scope": "chain" if chain_scope else site.name,
            },
            tenant_id=member.tenant_id,
        )
        return consent


def _check_consent_form(
    jurisdiction: str, channel: str, age: int | None, guardian_name: str | None
) -> None:
    rules = profile(jurisdiction)
    if rules.written_release and channel != "written":
        raise ConsentError(
            f"the {jurisdiction} profile ({rules.name}) needs a signed written release: record "
            "it with --channel written and the signed release as --evidence"
        )
    minor = rules.guardian_under is not None and age is not None and age < rules.guardian_under
    if minor and not guardian_name:
        raise ConsentError(
            f"members under {rules.guardian_under} need a parent's or guardian's consent "
            f"under the {jurisdiction} profile: give --guardian NAME and their signed consent "
            "as --evidence"
        )


def active_consent(
    s: Session, member: Member, now: dt.datetime | None = None, purpose: str = RECOGNITION
) -> Consent | None:
    """The member's newest consent for ``purpose`` that covers their site and is in force."""
    now = now or utcnow()
    rows = s.execute(
        select(Consent)
        .where(
            Consent.member_id == member.id,
            Consent.purpose == purpose,
            Consent.withdrawn_at.is_(None),
        )
        .order_by(Consent.given_at.desc())
    ).scalars()
    for c in rows:
        if (c.expires_at is None or c.expires_at > now) and c.site_id in (None, member.site_id):
            return c
    return None


def _notice(s: Session, site: Site, version: str) -> Notice:
    """The notice text shown for the site's jurisdiction at ``version``, stored on first use."""
    text = notice_text(site.jurisdiction, version)
    return stored_once(
        s,
        Notice,
        {"tenant_id": site.tenant_id, "jurisdiction": site.jurisdiction, "version": version},
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )
