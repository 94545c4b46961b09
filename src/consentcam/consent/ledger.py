"""The consent ledger and everything that depends on it: sites, cameras, members, consents,
enrolment, identification, withdrawal and data-subject export.

Every action runs in one transaction together with its audit entry, so either both are stored or
neither is. Rules come from the jurisdiction profiles; the store's triggers back up the rules
that protect people (no template without consent, withdrawal deletes templates).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.config import PipelineSettings, Settings
from consentcam.consent.camera_sources import (
    SourcePolicy,
    check_registration,
    is_url,
    masked_source,
    source_policy,
)
from consentcam.consent.profiles import (
    FACE_MODES,
    MODES,
    PORTRAIT,
    PORTRAIT_NOTICE_VERSIONS,
    PURPOSES,
    RECOGNITION,
    portrait_notice_sentence,
    profile,
    visit_notice_sentence,
)
from consentcam.consent.receipts import (
    ErasureDeleted,
    ErasureReceipt,
    ExportedConsent,
    ExportedMember,
    ExportedPurchase,
    ExportedTemplate,
    MemberExport,
    WithdrawalReceipt,
)
from consentcam.errors import (
    Conflict,
    ConsentError,
    InputError,
    NotFound,
    PolicyError,
    shown,
)
from consentcam.match.gallery import Identification
from consentcam.match.scores import fused_template
from consentcam.store import crypto
from consentcam.store.db import Store, deleted_rows, forget_deleted, open_store, stored_once
from consentcam.store.models import (
    Camera,
    Claim,
    Consent,
    Delivery,
    Event,
    HeldView,
    Member,
    MemberImage,
    Notice,
    OutboxEntry,
    Purchase,
    Site,
    Template,
    Tenant,
    new_id,
    utcnow,
)

# How consent was given: at the kiosk (explicit act on screen), on a signed paper or electronic
# release, or in the member app.
CHANNELS = ("kiosk", "written", "app")
# As the API's ConsentIn allows: the version names a notice text, it is not free text.
NOTICE_VERSION = re.compile(r"[A-Za-z0-9._-]{1,40}")
MAX_SOURCE_LENGTH = 2000
MAX_NAME_LENGTH = 200
# A member profile is free membership fields shown on the member card and in every alert: a
# tier, a member number, a short note. Bounded so a kiosk token cannot fill the store or make
# each card megabytes (issue 13: 5 x 2 MB values grew a card to 10.5 MB).
MAX_PROFILE_FIELDS = 50
MAX_PROFILE_KEY_CHARS = 64
MAX_PROFILE_VALUE_CHARS = 1000  # a string's length; other values' length as JSON
MAX_PROFILE_BYTES = 16_384  # the whole profile as UTF-8 JSON
# Unicode categories a name may not contain: controls, invisible formatting (among them the
# bidi controls U+202A-202E, U+2066-2069 and the marks U+200E/U+200F, which make
# "abc<U+202E>gnp.exe" display as "abcexe.png"), line and paragraph separators, surrogates.
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# Format characters that writing needs: the zero-width non-joiner and joiner shape Persian and
# Indic names and join emoji sequences; they cannot reorder text.
_JOINERS = frozenset({"\u200c", "\u200d"})
DEFAULT_TENANT = "default"
DEV_KEY_FILE = "dev-template.key"


@dataclass(frozen=True)
class Ledger:
    """An open store with its keys and the actor every audit entry will name."""

    store: Store
    keys: crypto.TemplateKeys
    actor: str
    settings: Settings
    # The tenant every call works in (and is confined to): the API sets the caller's; the CLI
    # and camera workers use the default tenant of a single-company deployment.
    tenant: str = DEFAULT_TENANT

    def tenant_id(self, session: Session) -> str:
        return tenant_row(session, self.tenant).id


def open_ledger(settings: Settings, actor: str, *, create: bool = False) -> Ledger:
    """Open the store and its template key. A store initialised with ``--dev`` keeps using the
    key generated for it (the key file in its data directory marks it as a development store);
    any other store needs CONSENTCAM_TEMPLATE_KEY or CONSENTCAM_TEMPLATE_KEY_FILE."""
    # A missing store is the first thing to report; but 'init' checks the key before creating
    # anything, so a refused init leaves nothing behind.
    store = None if create else open_store(settings)
    keys = store_keys(settings)
    return Ledger(store or open_store(settings, create=True), keys, actor, settings)


def development_store(settings: Settings) -> bool:
    """Development mode, or a store initialised with ``--dev`` (its key file beside it)."""
    return settings.dev or (
        not settings.database_url and (settings.data_dir / DEV_KEY_FILE).is_file()
    )


def store_keys(settings: Settings) -> crypto.TemplateKeys:
    """The template key from the environment, or a development store's own key file."""
    return crypto.load_keys(
        os.environ, dev=development_store(settings), dev_key_path=settings.data_dir / DEV_KEY_FILE
    )


def tenant_row(session: Session, name: str = DEFAULT_TENANT) -> Tenant:
    """The tenant named ``name``, created on first use."""
    return stored_once(session, Tenant, {"name": name})


def site_by_name(session: Session, name: str, tenant_id: str | None = None) -> Site:
    """A site by name, within ``tenant_id`` when given (another tenant's site is not found)."""
    query = select(Site).where(Site.name == name)
    if tenant_id is not None:
        query = query.where(Site.tenant_id == tenant_id)
    site = session.execute(query).scalar()
    if site is None:
        raise NotFound(f"no site named {shown(name)} (create it with 'consentcam site add')")
    return site


def camera_by_ref(
    session: Session, ref: str, site_name: str | None = None, tenant_id: str | None = None
) -> Camera:
    """A camera by id, or by name (within ``site_name`` when given; a name used at several
    sites needs the site); within ``tenant_id`` when given."""
    query = select(Camera).join(Site, Site.id == Camera.site_id)
    if tenant_id is not None:
        query = query.where(Site.tenant_id == tenant_id)
    if site_name is not None:
        query = query.where(Camera.site_id == site_by_name(session, site_name, tenant_id).id)
    by_id = session.execute(query.where(Camera.id == ref)).scalar()
    if by_id is not None:
        return by_id
    found = session.execute(query.where(Camera.name == ref)).scalars().all()
    if not found:
        where = f" at site {site_name!r}" if site_name else ""
        raise NotFound(f"no camera {ref!r}{where}")
    if len(found) > 1:
        raise InputError(f"several sites have a camera named {ref!r}; name the site (--site)")
    return found[0]


def member_by_id(session: Session, member_id: str, tenant_id: str | None = None) -> Member:
    """A member by id, within ``tenant_id`` when given (another tenant's member is not found)."""
    member = session.get(Member, member_id)
    if member is None or (tenant_id is not None and member.tenant_id != tenant_id):
        raise NotFound(f"no member {shown(member_id)}")
    return member


def add_site(ledger: Ledger, name: str, jurisdiction: str) -> Site:
    profile(jurisdiction)  # refuse unknown codes before writing anything
    _check_name(name, "site name")
    with ledger.store.transaction() as s:
        tenant = tenant_row(s, ledger.tenant)
        exists = select(Site).where(Site.name == name, Site.tenant_id == tenant.id)
        if s.execute(exists).scalar() is not None:
            # The name is not repeated: the caller sent it (issue 13, item 9).
            raise Conflict("a site with this name already exists in your tenant")
        site = Site(tenant_id=tenant.id, name=name, jurisdiction=jurisdiction)
        chain.add_audited(
            s,
            site,
            actor=ledger.actor,
            action="site.add",
            subject=site.id,
            details={"name": name, "jurisdiction": jurisdiction},
            tenant_id=tenant.id,
        )
        return site


def add_camera(
    ledger: Ledger,
    site_name: str,
    name: str,
    source: str,
    mode: str,
    signage_attested: bool,
    config: dict[str, Any] | None = None,
    *,
    over_api: bool = False,
) -> Camera:
    """Register a camera; a face mode needs a profile that allows it and signage attestation
    (privacy invariant 7: no covert operation). ``config`` overrides pipeline settings for this
    camera (its counting line, detection scale) and is checked like the settings. ``source``
    must pass the camera source rule (``consent/camera_sources.py``); ``over_api``: it comes
    from an API caller, not the local operator, so only streams on the camera networks and
    webcams (local files only where the operator allows them)."""
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    _check_name(name, "camera name")
    _check_source(source, camera_source_policy(ledger.settings), over_api=over_api)
    config = config or {}
    try:
        PipelineSettings.model_validate({**ledger.settings.pipeline.model_dump(), **config})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"invalid camera setting {where}: {first['msg']}") from None
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        check_camera_lawful(site.jurisdiction, mode, signage_attested)
        if s.execute(select(Camera).where(Camera.site_id == site.id, Camera.name == name)).scalar():
            raise Conflict(f"site {site_name!r} already has a camera named {name!r}")
        camera = Camera(
            id=new_id(),
            site_id=site.id,
            name=name,
            mode=mode,
            signage_attested=signage_attested,
            config=config,
        )
        seal_camera_source(ledger.keys, camera, site.tenant_id, source)
        chain.add_audited(
            s,
            camera,
            actor=ledger.actor,
            action="camera.add",
            subject=camera.id,
            details={"site": site.name, "mode": mode, "signage_attested": signage_attested},
            tenant_id=site.tenant_id,
        )
        return camera


def check_camera_lawful(
    jurisdiction: str, mode: str, signage_attested: bool, *, camera: str | None = None
) -> None:
    """PolicyError unless a camera in ``mode`` may run at a site under ``jurisdiction``: the
    profile allows the mode, and a face mode has its signage attested (privacy invariant 7: no
    covert operation). One rule for registering a camera and for starting one; ``camera``
    names it in the message (a registered camera that will not start)."""
    rules = profile(jurisdiction)
    which = f"camera {camera!r}: " if camera is not None else ""
    if mode not in rules.allowed_modes:
        raise PolicyError(
            f"{which}mode {mode!r} is not allowed under the {jurisdiction} profile "
            f"({rules.name}); allowed: {', '.join(sorted(rules.allowed_modes))}"
        )
    if mode in FACE_MODES and not signage_attested:
        raise PolicyError(
            f"{which}mode {mode!r} recognises faces: attest that the signs are up "
            "(--signage-attested) before it can be used"
        )


def camera_source_policy(settings: Settings) -> SourcePolicy:
    """The camera source rule of this store: its camera networks, and loopback streams and
    local files over the API for a development store."""
    return source_policy(settings.source, dev=development_store(settings))


def seal_camera_source(
    keys: crypto.TemplateKeys, camera: Camera, tenant_id: str, source: str
) -> None:
    """Store ``source`` on the camera: a URL whole in ``source_sealed`` under the store key and
    only as ``scheme://host[:port]/…`` in ``source`` (credentials hide in the user part, the
    query, ``;password=`` parameters and the path); a path or a webcam as it is."""
    if not is_url(source.strip()):  # the worker strips what it opens
        camera.source, camera.source_sealed = source, None
        return
    camera.source = masked_source(source.strip())
    camera.source_sealed = crypto.seal_bytes(
        keys, source.encode(), crypto.camera_source_aad(tenant_id, camera.id)
    )


def camera_source(keys: crypto.TemplateKeys, camera: Camera, tenant_id: str) -> str:
    """The camera's source as the worker opens it (credentials included)."""
    if camera.source_sealed is None:
        return camera.source
    aad = crypto.camera_source_aad(tenant_id, camera.id)
    what = f"camera {camera.name!r}: its stream URL"
    return crypto.open_bytes(keys, camera.source_sealed, aad, what).decode()


def add_member(
    ledger: Ledger, site_name: str, name: str, profile_fields: dict[str, Any] | None = None
) -> Member:
    _check_name(name, "member name")
    _check_profile(profile_fields or {})
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
        member = Member(
            tenant_id=site.tenant_id, site_id=site.id, name=name, profile=profile_fields or {}
        )
        chain.add_audited(
            s,
            member,
            actor=ledger.actor,
            action="member.add",
            subject=member.id,
            details={"site": site.name},
            tenant_id=site.tenant_id,
        )
        return member


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
        _check_name(guardian_name, "guardian name")
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


@dataclass(frozen=True, slots=True)
class Enrolment:
    member_id: str
    templates: int
    quality: list[dict[str, Any]]
    # A burst's frames the quality gate refused, each with why ("photo 2: image too blurry").
    skipped: tuple[str, ...] = ()
    portrait: bool = False  # a reference portrait for staff was stored (consent "portrait")


# A kiosk burst: frames of one capture (the member looking at the camera, slightly left, right,
# up); those the quality gate refuses are skipped, and at least this many must pass.
BURST_MIN_VIEWS = 3
BURST_MAX_VIEWS = 5


@dataclass(frozen=True, slots=True)
class EnrolmentView:
    """One accepted enrolment photo, ready to store: its embedding (raw, as the vision pipeline
    gives it), its quality figures and the hash of the photo it came from (never the photo)."""

    vector: np.ndarray
    quality: dict[str, Any]
    source_sha256: str
    # The face as staff would be shown it (JPEG), only when a reference portrait is asked for.
    picture: bytes = field(default=b"", repr=False)


def enrolment_views(
    ledger: Ledger, photos: Sequence[Path], *, pictures: bool = False
) -> list[EnrolmentView]:
    """The enrolment views of ``photos``: every photo must show one good-quality face, or
    InputError names the first that does not and what to fix. ``pictures`` also frames each
    face as a picture for staff (for a reference portrait)."""
    from consentcam.vision.faces import enrolment_face, picture_of

    views = []
    for path in photos:
        face = enrolment_face(path, ledger.settings.vision)
        picture = picture_of(path, face, ledger.settings.vision) if pictures else b""
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        views.append(EnrolmentView(face.vector, face.quality.as_dict(), digest, picture))
    return views


def enroll(
    ledger: Ledger, member_id: str, photos: Sequence[Path], *, portrait: bool = False
) -> Enrolment:
    """Enrol a member from still photos taken through the consent flow (never from footage).

    All photos must pass: one face each, good quality. Nothing is stored unless all do. With
    ``portrait``, the first photo's face is also stored as the reference portrait staff are
    shown, which needs the member's consent for purpose ``portrait``."""
    if not photos:
        raise InputError("enrolment needs at least one photo")
    with ledger.store.transaction() as s:
        _enrolment_consent(s, member_by_id(s, member_id, ledger.tenant_id(s)), portrait)
    # Decoding and embedding take seconds: done outside the write transaction, so the store is
    # not held meanwhile; the consent is checked again where the templates are written.
    views = enrolment_views(ledger, photos, pictures=portrait)
    return enroll_views(ledger, member_id, views, portrait=portrait)


def enroll_burst(
    ledger: Ledger,
    member_id: str,
    photos: Sequence[Path],
    labels: Sequence[str] | None = None,
    *,
    portrait: bool = False,
) -> Enrolment:
    """Enrol a member from a kiosk burst: up to BURST_MAX_VIEWS frames of one capture, several
    views of the member's face. Frames the quality gate refuses are skipped (the result says
    which and why); at least BURST_MIN_VIEWS must pass, and they must all show one person (each
    within the 1:1 threshold of their fusion), or nothing is stored. Several views make a
    member's fused template much more reliable at the door (docs/model-card.md)."""
    from consentcam.model_card import model_card

    if not BURST_MIN_VIEWS <= len(photos) <= BURST_MAX_VIEWS:
        raise InputError(
            f"a burst has {BURST_MIN_VIEWS} to {BURST_MAX_VIEWS} frames, not {len(photos)}"
        )
    names = list(labels) if labels is not None else [str(p) for p in photos]
    with ledger.store.transaction() as s:
        _enrolment_consent(s, member_by_id(s, member_id, ledger.tenant_id(s)), portrait)
    views: list[EnrolmentView] = []
    skipped: list[str] = []
    for path, name in zip(photos, names, strict=True):
        try:
            (view,) = enrolment_views(ledger, [path], pictures=portrait and not views)
        except InputError as exc:
            skipped.append(str(exc).replace(str(path), name))
            continue
        views.append(view)
    if len(views) < BURST_MIN_VIEWS:
        raise InputError(
            f"only {len(views)} of {len(photos)} frames passed the quality gate, "
            f"{BURST_MIN_VIEWS} needed: {'; '.join(skipped)}"
        )
    fused = fused_template(np.stack([v.vector for v in views]))
    apart = max(float(np.linalg.norm(v.vector - fused)) for v in views)
    if apart > model_card().verification_threshold:
        raise InputError(
            "the frames do not all show the same person; nothing was enrolled (take the "
            "photos again with one person in front of the kiosk)"
        )
    result = enroll_views(ledger, member_id, views, portrait=portrait)
    return replace(result, skipped=tuple(skipped))


def enroll_views(
    ledger: Ledger,
    member_id: str,
    views: Sequence[EnrolmentView],
    *,
    portrait: bool = False,
) -> Enrolment:
    """Store accepted enrolment views (``enrolment_views``; a kiosk burst) as the member's
    templates, in one transaction with its audit entry, if the member's consent allows it;
    with ``portrait``, the first view's picture as the member's reference portrait too."""
    from consentcam.consent.pictures import store_portrait

    if not views:
        raise InputError("enrolment needs at least one photo")
    with ledger.store.transaction() as s:
        member = member_by_id(s, member_id, ledger.tenant_id(s))
        consent = _enrolment_consent(s, member, portrait)
        for view in views:
            add_template(s, ledger.keys, member, consent, view)
        member.last_interaction_at = utcnow()
        s.flush()
        chain.append(
            s,
            actor=ledger.actor,
            action="template.enrol",
            subject=member.id,
            details={"templates": len(views), "consent": consent.id},
            tenant_id=member.tenant_id,
        )
        if portrait:
            store_portrait(s, ledger, member, views[0].picture)
        return Enrolment(member.id, len(views), [v.quality for v in views], portrait=portrait)


def add_template(
    s: Session,
    keys: crypto.TemplateKeys,
    member: Member,
    consent: Consent,
    view: EnrolmentView,
    origin: str = "enrolment",
) -> Template:
    """One template row: the embedding rotated by the tenant's transform and sealed to its row
    and member. The caller audits it (with the rest of its transaction)."""
    template_id = new_id()
    transform = crypto.tenant_transform(keys.key, member.tenant_id)
    protected = crypto.protect(transform, view.vector[None, :])[0]
    template = Template(
        id=template_id,
        tenant_id=member.tenant_id,
        member_id=member.id,
        consent_id=consent.id,
        model_id=crypto.template_model_id(),
        sealed=crypto.seal(
            keys, protected, crypto.template_aad(member.tenant_id, template_id, member.id)
        ),
        key_id=keys.key_id,
        quality=view.quality,
        source_sha256=view.source_sha256,
        origin=origin,
    )
    s.add(template)
    return template


def _enrolment_consent(s: Session, member: Member, portrait: bool = False) -> Consent:
    """The consent a new template will rest on; PolicyError or ConsentError saying what is
    missing when enrolment is not allowed (with ``portrait``, also the member's consent to a
    reference portrait)."""
    site = s.get(Site, member.site_id)
    assert site is not None
    rules = profile(site.jurisdiction)
    if not rules.allowed_modes & FACE_MODES:
        raise PolicyError(
            f"face recognition is not allowed under the {site.jurisdiction} "
            f"profile ({rules.name}); nothing was enrolled"
        )
    consent = active_consent(s, member)
    if consent is None:
        raise ConsentError(
            f"member {member.id} has no active consent for purpose '{RECOGNITION}' at site "
            f"{site.name!r}: record one first with 'consentcam consent record {member.id} "
            "--purpose recognition --evidence FILE'"
        )
    if portrait and active_consent(s, member, purpose=PORTRAIT) is None:
        raise ConsentError(
            f"member {member.id} has not consented to a portrait shown to staff: record a "
            f"consent for purpose '{PORTRAIT}' (notice v3) or enrol without the portrait"
        )
    return consent


def identify(ledger: Ledger, photo: Path, site_name: str) -> Identification:
    """The enrolled member in ``photo`` at ``site_name``, or unknown. A non-member's face is
    used in memory only: nothing about an unknown probe is stored or audited."""
    # Lazy: the vision models and the index backends load only when a photo is identified.
    from consentcam.consent.gallery import SiteGallery
    from consentcam.vision.faces import file_faces

    faces = file_faces(photo, ledger.settings.vision)
    if not faces:
        raise InputError(f"{photo}: no face found")
    with ledger.store.transaction() as s:
        site = site_by_name(s, site_name, ledger.tenant_id(s))
    gallery = SiteGallery(ledger, site)
    gallery.refresh()
    result = gallery.identify(faces[0].vector)
    if result.member_id is not None:
        with ledger.store.transaction() as s:
            member = member_by_id(s, result.member_id, ledger.tenant_id(s))
            member.last_interaction_at = utcnow()
            chain.append(
                s,
                actor=ledger.actor,
                action="match",
                subject=member.id,
                details={
                    "site": site.name,
                    "distance": round(float(result.distance or 0), 4),
                    "threshold": round(result.threshold, 4),
                },
                tenant_id=site.tenant_id,
            )
    return result


def withdraw(ledger: Ledger, member_id: str, purpose: str | None = None) -> WithdrawalReceipt:
    """Withdraw the member's consents and delete what rests on them in one transaction; return
    a deletion receipt (no biometric content). Without ``purpose``, or for ``recognition``:
    every consent (pictures for staff serve recognition alone), every template and picture.
    For ``portrait``: only that consent and the member's pictures; recognition goes on."""
    if purpose is not None and purpose not in PURPOSES:
        raise InputError(f"unknown purpose {purpose!r}; supported: {', '.join(PURPOSES)}")
    purposes = (PORTRAIT,) if purpose == PORTRAIT else PURPOSES
    with ledger.store.transaction() as s:
        member = member_by_id(s, member_id, ledger.tenant_id(s))
        now = utcnow()
        consents, templates, pictures = withdrawn_consents(s, member, now, purposes)
        entry = chain.append(
            s,
            actor=ledger.actor,
            action="consent.withdraw",
            subject=member.id,
            details={
                "purposes": list(purposes),
                "consents": consents,
                "templates_deleted": templates,
                "pictures_deleted": pictures,
            },
            tenant_id=member.tenant_id,
        )
        receipt = WithdrawalReceipt(
            receipt_id=new_id(),
            member_id=member.id,
            purposes=tuple(purposes),
            withdrawn_consents=consents,
            deleted_templates=templates,
            deleted_pictures=pictures,
            deleted_at=now,
            by=ledger.actor,
            audit_entry=entry.seq,
            kept="membership profile and purchase history (not biometric; erased with "
            "everything else on request: 'consentcam erase', POST /api/v1/members/{id}/erase)",
        )
    forget_deleted(ledger.store)
    return receipt


def rectify_member(
    ledger: Ledger,
    member_id: str,
    *,
    name: str | None = None,
    profile_fields: dict[str, Any] | None = None,
) -> Member:
    """Correct a member's name or replace their profile (data-subject rectification). The
    audit entry names the fields changed, never their old or new values."""
    if name is None and profile_fields is None:
        raise InputError("nothing to rectify: give a new name or a new profile")
    if name is not None:
        _check_name(name, "member name")
    if profile_fields is not None:
        _check_profile(profile_fields)
    with ledger.store.transaction() as s:
        member = member_by_id(s, member_id, ledger.tenant_id(s))
        changed = []
        if name is not None and name != member.name:
            member.name = name
            changed.append("name")
        if profile_fields is not None and profile_fields != member.profile:
            member.profile = profile_fields
            changed.append("profile")
        details: dict[str, Any] = {"fields": changed}
        # Alerts keep the member card staff saw; the corrected record replaces it there too
        # (issue 13, item 8), so no history, stream or delivery still due shows the old one.
        corrected = rewrite_member_cards(s, member) if changed else 0
        if corrected:
            details["events"] = corrected
        chain.append(
            s,
            actor=ledger.actor,
            action="member.rectify",
            subject=member.id,
            details=details,
            tenant_id=member.tenant_id,
        )
    if changed:
        forget_deleted(ledger.store)  # the old values' page images leave SQLite's log now
    return member


def rewrite_member_cards(s: Session, member: Member) -> int:
    """Put the member's current name and profile into the member card of each of their stored
    events (an alert carries the card staff are shown); returns how many events changed.

    Called in a rectification's transaction (issue 13, item 8). Rewriting the stored copies,
    rather than looking the member up whenever events are read, keeps every reader as it is
    (the event history, the live stream's replay, webhook deliveries, whose body is built when
    sent, all read the stored payload) and leaves no old copy in the database; a rectification
    is rare and touches only that member's events, within their retention."""
    changed = 0
    for event in s.execute(select(Event).where(Event.member_id == member.id)).scalars():
        card = event.payload.get("member")
        if not isinstance(card, Mapping) or card.get("id") != member.id:
            continue
        current = {**card, "name": member.name, "profile": member.profile}
        if current != card:
            # A new dict, so the JSON column is written (in-place changes are not tracked).
            event.payload = {**event.payload, "member": current}
            changed += 1
    return changed


def erase_member(ledger: Ledger, member_id: str) -> ErasureReceipt:
    """Erase everything held about a member (data-subject erasure): withdraw their consents and
    delete their templates as a withdrawal does, then delete their consents, purchases, claims,
    the events naming them (with those events' stream entries and pending webhook deliveries)
    and the member record itself, in one transaction; return the erasure receipt.

    Kept: the audit log, which is append-only evidence of what was done and when (consent given
    and withdrawn, enrolments, reads, this erasure) and names the member only by id, never by
    name, profile or face. Once the member row is gone, that id points at nobody here."""
    with ledger.store.transaction() as s:
        member = member_by_id(s, member_id, ledger.tenant_id(s))
        now = utcnow()
        withdrawn, templates, pictures = withdrawn_consents(s, member, now, PURPOSES)
        events = select(Event.id).where(Event.member_id == member.id)
        stream = select(OutboxEntry.seq).where(OutboxEntry.event_id.in_(events))
        deleted = ErasureDeleted(
            templates=templates,
            pictures=pictures,
            webhook_deliveries=deleted_rows(
                s, delete(Delivery).where(Delivery.outbox_seq.in_(stream))
            ),
            stream_entries=deleted_rows(
                s, delete(OutboxEntry).where(OutboxEntry.event_id.in_(events))
            ),
            events=deleted_rows(s, delete(Event).where(Event.member_id == member.id)),
            claims=deleted_rows(s, delete(Claim).where(Claim.member_id == member.id)),
            purchases=deleted_rows(s, delete(Purchase).where(Purchase.member_id == member.id)),
            consents=deleted_rows(s, delete(Consent).where(Consent.member_id == member.id)),
        )
        site_id, tenant_id = member.site_id, member.tenant_id
        s.delete(member)
        s.flush()
        entry = chain.append(
            s,
            actor=ledger.actor,
            action="member.erase",
            subject=member_id,
            details={"withdrawn_consents": withdrawn, "deleted": deleted.as_dict()},
            tenant_id=tenant_id,
        )
        site = s.get(Site, site_id)
        receipt = ErasureReceipt(
            receipt_id=new_id(),
            member_id=member_id,
            site=site.name if site else None,
            withdrawn_consents=withdrawn,
            deleted=deleted,
            erased_at=now,
            by=ledger.actor,
            audit_entry=entry.seq,
            kept="the audit log's entries about this member id (what was done and when; no "
            "name, profile, purchase or face data)",
        )
    forget_deleted(ledger.store)
    return receipt


def withdrawn_consents(
    s: Session, member: Member, now: dt.datetime, purposes: Sequence[str]
) -> tuple[int, int, int]:
    """Withdraw the member's active consents for ``purposes`` at ``now`` and delete their
    pictures for staff, and with ``recognition`` every template of theirs; the numbers of
    consents withdrawn, templates and pictures deleted. Workers are told through the store's
    triggers (the gallery change counters and PostgreSQL's notification)."""
    consents = (
        s.execute(
            select(Consent).where(
                Consent.member_id == member.id,
                Consent.withdrawn_at.is_(None),
                Consent.purpose.in_(purposes),
            )
        )
        .scalars()
        .all()
    )
    templates = 0
    if RECOGNITION in purposes:
        templates = s.execute(
            select(func.count()).select_from(Template).where(Template.member_id == member.id)
        ).scalar_one()
    for c in consents:
        c.withdrawn_at = now
    s.flush()
    if RECOGNITION in purposes:
        # The trigger deleted templates of each withdrawn consent; this also removes any left
        # under an already-ended consent, and any door view held for a visit template.
        s.execute(delete(Template).where(Template.member_id == member.id))
        s.execute(delete(HeldView).where(HeldView.member_id == member.id))
    # Pictures serve recognition alerts only: either withdrawal ends them (invariant 8).
    pictures = deleted_rows(s, delete(MemberImage).where(MemberImage.member_id == member.id))
    return len(consents), int(templates), pictures


def export_member(ledger: Ledger, member_id: str) -> MemberExport:
    """Everything held about a member (data-subject access): profile, consents, purchases,
    template metadata (never the templates themselves) and the pictures staff may be shown
    (their own face, so they are given back). The read is audited with its actor."""
    from consentcam.consent.pictures import exported_pictures

    with ledger.store.transaction() as s:
        member = member_by_id(s, member_id, ledger.tenant_id(s))
        consents = s.execute(select(Consent).where(Consent.member_id == member.id)).scalars()
        templates = s.execute(select(Template).where(Template.member_id == member.id)).scalars()
        purchases = s.execute(select(Purchase).where(Purchase.member_id == member.id)).scalars()
        document = MemberExport(
            member=ExportedMember(
                id=member.id,
                name=member.name,
                profile=member.profile,
                created_at=member.created_at,
                last_interaction_at=member.last_interaction_at,
            ),
            consents=tuple(
                ExportedConsent(
                    id=c.id,
                    purpose=c.purpose,
                    channel=c.channel,
                    scope="chain" if c.site_id is None else "site",
                    notice_sha256=c.notice_sha256,
                    evidence_sha256=c.evidence_sha256,
                    given_at=c.given_at,
                    expires_at=c.expires_at,
                    withdrawn_at=c.withdrawn_at,
                )
                for c in consents
            ),
            templates=tuple(
                ExportedTemplate(
                    id=t.id,
                    model_id=t.model_id,
                    created_at=t.created_at,
                    quality=t.quality,
                    source_photo_sha256=t.source_sha256,
                )
                for t in templates
            ),
            purchases=tuple(
                ExportedPurchase(
                    at=p.at, items=p.items, amount_cents=p.amount_cents, currency=p.currency
                )
                for p in purchases
            ),
            pictures=exported_pictures(s, ledger.keys, member.id),
        )
        chain.append(
            s,
            actor=ledger.actor,
            action="member.export",
            subject=member.id,
            tenant_id=member.tenant_id,
        )
        return document


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


def _check_name(name: str, what: str) -> None:
    """InputError unless ``name`` is 1-200 characters that display as themselves. Names are
    shown to staff, on signs and in lists, so a control or text-direction character would make
    one read as another; the message names the character's code point, never the name."""
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InputError(f"{what} must be 1-{MAX_NAME_LENGTH} printable characters")
    hidden = hidden_character(name)
    if hidden is not None:
        raise InputError(
            f"{what} must not contain control, invisible formatting or text-direction "
            f"characters (found U+{ord(hidden):04X})"
        )


def hidden_character(text: str) -> str | None:
    """The first character of ``text`` that does not display as itself: a control, an
    invisible formatting or text-direction character (Unicode category Cf, joiners aside), a
    line or paragraph separator, an unpaired surrogate; None if there is none."""
    for ch in text:
        if ch not in _JOINERS and unicodedata.category(ch) in _NOT_IN_NAMES:
            return ch
    return None


def _check_source(source: str, policy: SourcePolicy, *, over_api: bool) -> None:
    # A path or URL: no control characters (NUL cannot be stored on PostgreSQL, nor opened).
    if not source.strip() or len(source) > MAX_SOURCE_LENGTH or any(ord(c) < 32 for c in source):
        raise InputError(f"a camera source must be 1-{MAX_SOURCE_LENGTH} printable characters")
    check_registration(source.strip(), policy, over_api=over_api)  # the worker strips it too


def _check_profile(fields: dict[str, Any]) -> None:
    # Stored as JSON and shown on the member card: what cannot be written as UTF-8 JSON (an
    # unpaired surrogate, an object) would be stored and then fail every read.
    try:
        size = len(json.dumps(fields, ensure_ascii=False).encode())
    except (TypeError, ValueError) as exc:
        raise InputError(f"member profile is not storable as JSON text ({exc})") from None
    # Bounds (no value is repeated in the messages): checked before anything is stored.
    if len(fields) > MAX_PROFILE_FIELDS:
        raise InputError(
            f"a member profile has at most {MAX_PROFILE_FIELDS} fields, not {len(fields)}"
        )
    for key, value in fields.items():
        if not 1 <= len(key) <= MAX_PROFILE_KEY_CHARS or hidden_character(key) is not None:
            raise InputError(
                f"a member profile field name is 1-{MAX_PROFILE_KEY_CHARS} printable characters"
            )
        length = len(value) if isinstance(value, str) else len(json.dumps(value))
        if length > MAX_PROFILE_VALUE_CHARS:
            raise InputError(
                f"a member profile value is at most {MAX_PROFILE_VALUE_CHARS} characters "
                f"(field {shown(key, 20)} has {length})"
            )
    if size > MAX_PROFILE_BYTES:
        raise InputError(
            f"a member profile is at most {MAX_PROFILE_BYTES} bytes as JSON, not {size}"
        )
