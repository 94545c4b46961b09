"""Key rotation: every template re-encrypted under a new key and moved to the new key's tenant
transform, in one transaction, without the raw embedding ever being formed (ISO/IEC 24745
renewability). Recognition keeps working; the old key opens nothing afterwards."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from consentcam.audit import chain
from consentcam.consent.ledger import Ledger, template_aad
from consentcam.errors import InputError
from consentcam.store import crypto
from consentcam.store.models import Template, utcnow


def rotate_keys(ledger: Ledger, new_keys: crypto.TemplateKeys) -> dict[str, Any]:
    if new_keys.key_id == ledger.keys.key_id:
        raise InputError("the new key is the key in use; generate a fresh one")
    moved = 0
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
            aad = template_aad(template.tenant_id, template.id)
            protected = crypto.open_sealed(ledger.keys, template.sealed, aad)
            renewed = crypto.rewrap(old, new, protected[None, :])[0]
            template.sealed = crypto.seal(new_keys, renewed, aad)
            template.key_id = new_keys.key_id
            moved += 1
        chain.append(
            s,
            actor=ledger.actor,
            action="keys.rotate",
            subject=None,
            details={
                "templates": moved,
                "old_key_id": ledger.keys.key_id,
                "new_key_id": new_keys.key_id,
            },
        )
    return {
        "templates_rewrapped": moved,
        "old_key_id": ledger.keys.key_id,
        "new_key_id": new_keys.key_id,
        "at": utcnow().isoformat(),
    }
