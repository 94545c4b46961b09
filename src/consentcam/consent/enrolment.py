"""Enrolment and identification: templates made from still photos taken through the consent
flow (never from footage), stored sealed only while a consent allows it, and a photo
identified against a site's gallery.

The store's triggers back up the rule that protects people: no template without consent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.consents import active_consent
from consentcam.consent.context import Ledger, member_by_id, site_by_name
from consentcam.consent.gallery import SiteGallery
from consentcam.consent.pictures import store_portrait
from consentcam.consent.profiles import FACE_MODES, PORTRAIT, RECOGNITION, profile
from consentcam.errors import ConsentError, InputError, PolicyError
from consentcam.match.gallery import Identification
from consentcam.match.scores import fused_template
from consentcam.model_card import model_card
from consentcam.store import crypto
from consentcam.store.models import Consent, Member, Site, Template, new_id, utcnow


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
    # Lazy: the face models (dlib) load only when photos are enrolled.
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
    # Lazy: the face models (dlib) load only when a photo is identified.
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
