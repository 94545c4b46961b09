from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from consentcam.audit.chain import verify
from consentcam.consent.ledger import (
    Ledger,
    add_member,
    add_site,
    enroll,
    identify,
    record_consent,
)
from consentcam.errors import InputError
from consentcam.store.crypto import TemplateKeys
from consentcam.store.models import Template
from consentcam.store.rotation import rotate_keys


def test_rotation_rewraps_templates_and_recognition_still_works(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    add_site(ledger, "flagship", "eu")
    member = add_member(ledger, "flagship", "Member")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    enroll(ledger, member.id, [photos / "obama.jpg", photos / "obama2.jpg"])
    with ledger.store.transaction() as s:
        before = {t.id: t.sealed for t in s.execute(select(Template)).scalars()}

    new_keys = TemplateKeys(os.urandom(32))
    report = rotate_keys(ledger, new_keys)
    assert report["templates_rewrapped"] == 2 and report["new_key_id"] == new_keys.key_id

    rotated = dataclasses.replace(ledger, keys=new_keys)
    with rotated.store.transaction() as s:
        after = {t.id: (t.sealed, t.key_id) for t in s.execute(select(Template)).scalars()}
        assert verify(s).ok
    assert after.keys() == before.keys()
    assert all(after[t][0] != before[t] and after[t][1] == new_keys.key_id for t in before)
    assert identify(rotated, photos / "obama3.jpg", "flagship").member_id == member.id
    assert identify(rotated, photos / "biden.jpg", "flagship").member_id is None
    with pytest.raises(InputError, match="not the loaded key"):
        identify(ledger, photos / "obama3.jpg", "flagship")  # the old key opens nothing


def test_rotating_to_the_same_key_is_refused(ledger: Ledger) -> None:
    with pytest.raises(InputError, match="key in use"):
        rotate_keys(ledger, ledger.keys)
