"""Key rotation: every template re-encrypted under a new key and moved to the new key's tenant
transform, in one transaction, without the raw embedding ever being formed (ISO/IEC 24745
renewability). Webhook signing secrets, camera stream URLs and members' pictures for staff,
sealed under the same key, are re-sealed in that transaction, so receivers keep verifying with
the secret they hold and cameras keep connecting; stream URLs an upgraded store still holds in
clear (before migration 0007 every one, until issue 13 those without a password or a query) are
sealed on the way. Recognition and delivery keep working; the old key
opens nothing afterwards."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from consentcam.audit import chain
from consentcam.consent.camera_sources import is_url
from consentcam.consent.context import Ledger
from consentcam.consent.receipts import RotationReceipt
from consentcam.consent.sites import camera_source, seal_camera_source
from consentcam.errors import InputError
from consentcam.store import crypto
from consentcam.store.models import Camera, MemberImage, Site, Template, Webhook, utcnow


def rotate_keys(ledger: Ledger, new_keys: crypto.TemplateKeys) -> RotationReceipt:
    if new_keys.key_id == ledger.keys.key_id:
        raise InputError("the new key is the key in use; generate a fresh one")
    moved = bound = 0
    transforms: dict[str, tuple[crypto.Matrix, crypto.Matrix]] = {}
    with ledger.store.transaction() as s:
        for template in s.execute(select(Template)).scalars():
            old, new = transforms.setdefault(
                template.tenant_id,
                (
                    crypto.tenant_transform(ledger.keys.key, template.tenant_id),
                    crypto.tenant_transform(new_keys.key, template.tenant_id),
                ),
            )
            protected, unbound = _opened(ledger.keys, template)
            renewed = crypto.rewrap(old, new, protected[None, :])[0]
            aad = crypto.template_aad(template.tenant_id, template.id, template.member_id)
            template.sealed = crypto.seal(new_keys, renewed, aad)
            template.key_id = new_keys.key_id
            moved += 1
            bound += unbound
        resealed = _reseal_webhook_secrets(s, ledger.keys, new_keys)
        sources = _reseal_camera_sources(s, ledger.keys, new_keys)
        pictures = _reseal_pictures(s, ledger.keys, new_keys)
        chain.append(
            s,
            actor=ledger.actor,
            action="keys.rotate",
            subject=None,
            details={
                "templates": moved,
                "templates_bound_to_member": bound,
                "webhook_secrets": resealed,
                "camera_sources": sources,
                "pictures": pictures,
                "old_key_id": ledger.keys.key_id,
                "new_key_id": new_keys.key_id,
            },
        )
    return RotationReceipt(
        templates_rewrapped=moved,
        templates_bound_to_member=bound,
        webhook_secrets_resealed=resealed,
        camera_sources_sealed=sources,
        pictures_resealed=pictures,
        old_key_id=ledger.keys.key_id,
        new_key_id=new_keys.key_id,
        at=utcnow(),
    )


def _opened(keys: crypto.TemplateKeys, template: Template) -> tuple[np.ndarray, bool]:
    """The template's protected vector, and whether its seal predates member binding (then
    this rotation binds it). A template that opens neither way (altered, moved to another
    member, or sealed under another key) stops the rotation, which changes nothing."""
    aad = crypto.template_aad(template.tenant_id, template.id, template.member_id)
    try:
        return crypto.open_sealed(keys, template.sealed, aad), False
    except InputError:
        pass
    try:
        legacy = crypto.unbound_template_aad(template.tenant_id, template.id)
        return crypto.open_sealed(keys, template.sealed, legacy), True
    except InputError as exc:
        raise InputError(
            f"template {template.id} does not open with the key in use ({exc}); nothing was "
            "rotated: withdraw or erase its member, or restore the row, then rotate again"
        ) from None


def _reseal_camera_sources(
    s: Session, old_keys: crypto.TemplateKeys, new_keys: crypto.TemplateKeys
) -> int:
    """Camera stream URLs sealed under the new key; those an upgraded store holds in clear are
    sealed now (and shown masked from then on). The count of both."""
    count = 0
    rows = s.execute(select(Camera, Site.tenant_id).join(Site, Site.id == Camera.site_id)).all()
    for camera, tenant_id in rows:
        if camera.source_sealed is None and not is_url(camera.source.strip()):
            continue
        source = camera_source(old_keys, camera, tenant_id)
        seal_camera_source(new_keys, camera, tenant_id, source)
        count += 1
    return count


def _reseal_pictures(
    s: Session, old_keys: crypto.TemplateKeys, new_keys: crypto.TemplateKeys
) -> int:
    count = 0
    for row in s.execute(select(MemberImage)).scalars():
        row.sealed = crypto.rotate(old_keys, new_keys, row.sealed, crypto.stored_picture_aad(row))
        row.key_id = new_keys.key_id
        count += 1
    return count


def _reseal_webhook_secrets(
    s: Session, old_keys: crypto.TemplateKeys, new_keys: crypto.TemplateKeys
) -> int:
    count = 0
    for webhook in s.execute(select(Webhook)).scalars():
        aad = crypto.secret_aad(webhook.tenant_id, webhook.id)
        webhook.secret_sealed = crypto.rotate(old_keys, new_keys, webhook.secret_sealed, aad)
        webhook.key_id = new_keys.key_id
        count += 1
    return count
